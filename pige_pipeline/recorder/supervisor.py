"""What the recorder supervisor should do now, decided from the runs and heartbeats it sees (no Dagster).

Rules, in order:
1. A run that Dagster thinks is running but whose recorder sent no heartbeat for `stale_after_s`
   (after a start-up grace) is dead: report it failed and treat it as gone.
2. No live run: launch one (first start, or relaunch after a failure, crash or cancel).
3. One live run older than `rotate_after`: launch its successor. The old run keeps recording.
4. Two live runs (a rotation): once the newer run records every station it has (or has been up
   for `ready_after_s`), ask the older ones to stop. Both record during the overlap; readers trim it.
Run keys name the run being replaced, so a sensor tick that repeats before the new run appears in
the run storage cannot launch a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pige_pipeline.recorder.state import STALE_AFTER_S, RecorderState

ROLE_TAG = "pige/role"
ROLE = "recorder"
LAUNCHED_AT_TAG = "pige/launched_at"
ROTATES_TAG = "pige/rotates"
ACTIVE_STATUSES = frozenset({"QUEUED", "NOT_STARTED", "STARTING", "STARTED"})


@dataclass(frozen=True)
class RecorderRun:
    """A recorder run as the run storage knows it."""

    run_id: str
    status: str  # DagsterRunStatus name
    launched_at: datetime


@dataclass
class Decision:
    """What the supervisor does on this tick."""

    launch: bool = False
    run_key: str | None = None
    rotates: str | None = None
    stop: list[str] = field(default_factory=list)
    mark_failed: list[str] = field(default_factory=list)
    reason: str = ""


def decide(
    runs: list[RecorderRun],
    states: dict[str, RecorderState],
    now: datetime,
    *,
    rotate_after: timedelta = timedelta(days=1),
    startup_grace_s: float = 180.0,
    stale_after_s: float = STALE_AFTER_S,
    ready_after_s: float = 120.0,
) -> Decision:
    """Decide from the recorder runs (newest first or in any order) and their heartbeats by run id."""
    decision = Decision()
    live: list[RecorderRun] = []
    for run in runs:
        if run.status not in ACTIVE_STATUSES:
            continue
        state = states.get(run.run_id)
        started_long_ago = (now - run.launched_at).total_seconds() > startup_grace_s
        # A recorder that stopped cleanly (rotation) is finishing its run: give it time to end.
        finishing = state is not None and state.stopped and state.age_s(now) < startup_grace_s
        dead = not finishing and (state is None or not state.alive(now, stale_after_s))
        if run.status == "STARTED" and started_long_ago and dead:
            decision.mark_failed.append(run.run_id)
            continue
        live.append(run)
    live.sort(key=lambda r: r.launched_at)
    if not live:
        latest = max(runs, key=lambda r: r.launched_at, default=None)
        decision.launch = True
        if latest is None:
            decision.run_key = "recorder-first"
            decision.reason = "no recorder run yet"
        else:
            decision.run_key = f"recorder-after-{latest.run_id}"
            status = "stale (no heartbeat)" if latest.run_id in decision.mark_failed else latest.status
            decision.reason = f"previous recorder run {latest.run_id} is {status}: relaunching"
        return decision
    if len(live) == 1:
        run = live[0]
        age = now - run.launched_at
        if age >= rotate_after:
            decision.launch = True
            decision.rotates = run.run_id
            decision.run_key = f"recorder-rotate-{run.run_id}"
            decision.reason = f"recorder run {run.run_id} is {age} old: starting its successor"
        else:
            decision.reason = f"recorder run {run.run_id} is live ({run.status})"
        return decision
    newest = live[-1]
    state = states.get(newest.run_id)
    if state is not None and state.alive(now, stale_after_s) and _ready(state, now, ready_after_s):
        decision.stop = [r.run_id for r in live[:-1]]
        decision.reason = f"rotation: run {newest.run_id} is recording; stopping {', '.join(decision.stop)}"
    else:
        decision.reason = f"rotation: waiting for run {newest.run_id} to record before stopping the old one"
    return decision


def _ready(state: RecorderState, now: datetime, ready_after_s: float) -> bool:
    """Every station of the new recorder records, or it has been up long enough to be as good as it gets."""
    statuses = [s.get("status") for s in state.stations.values()]
    if statuses and all(status == "recording" for status in statuses):
        return True
    return (now - state.started_at).total_seconds() >= ready_after_s
