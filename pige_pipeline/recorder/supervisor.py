"""What the recorder supervisor should do now, decided from the runs and heartbeats it sees (no Dagster).

Every recorder group (`recorder_group` in stations.yaml) has its own recorder runs, tagged with the
group, and its own decision. For each group, rules in order:
1. A run that Dagster thinks is running but whose recorder sent no heartbeat for `stale_after_s`
   (after a start-up grace) is dead: report it failed and treat it as gone.
2. No live run: launch one (first start, or relaunch after a failure, crash or cancel).
3. One live run older than `rotate_after`: launch its successor. The old run keeps recording.
4. Two live runs (a rotation): once the newer run records every station it has (or has been up
   for `ready_after_s`), ask the older ones to stop. Both record during the overlap; readers trim it.
   An older run still handing a moved station over to another group is kept until it has.
Run keys name the group and the run being replaced, so a sensor tick that repeats before the new
run appears in the run storage cannot launch a second one, and two groups never share a key.

A group that has live runs but no station left (every station moved to other groups, or removed) is
retired: its runs are asked to stop once their heartbeats show that they hold no station, that is once
they have handed their stations over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pige_pipeline.recorder.state import STALE_AFTER_S, RecorderState
from pige_pipeline.stations import DEFAULT_RECORDER_GROUP

ROLE_TAG = "pige/role"
ROLE = "recorder"
# The recorder group a run records; runs launched before groups existed have none and count as `default`.
GROUP_TAG = "pige/recorder_group"
LAUNCHED_AT_TAG = "pige/launched_at"
ROTATES_TAG = "pige/rotates"
ACTIVE_STATUSES = frozenset({"QUEUED", "NOT_STARTED", "STARTING", "STARTED"})


@dataclass(frozen=True)
class RecorderRun:
    """A recorder run as the run storage knows it."""

    run_id: str
    status: str  # DagsterRunStatus name
    launched_at: datetime
    group: str = DEFAULT_RECORDER_GROUP


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
    group: str = DEFAULT_RECORDER_GROUP,
    rotate_after: timedelta = timedelta(days=1),
    startup_grace_s: float = 180.0,
    stale_after_s: float = STALE_AFTER_S,
    ready_after_s: float = 120.0,
) -> Decision:
    """Decide for one group from its recorder runs (in any order) and their heartbeats by run id."""
    decision = Decision()
    live = _live_runs(runs, states, now, decision, startup_grace_s, stale_after_s)
    prefix = f"recorder-{group}"
    if not live:
        latest = max(runs, key=lambda r: r.launched_at, default=None)
        decision.launch = True
        if latest is None:
            decision.run_key = f"{prefix}-first"
            decision.reason = f"group {group!r}: no recorder run yet"
        else:
            decision.run_key = f"{prefix}-after-{latest.run_id}"
            status = "stale (no heartbeat)" if latest.run_id in decision.mark_failed else latest.status
            decision.reason = (
                f"group {group!r}: previous recorder run {latest.run_id} is {status}: relaunching"
            )
        return decision
    if len(live) == 1:
        run = live[0]
        age = now - run.launched_at
        if age >= rotate_after:
            decision.launch = True
            decision.rotates = run.run_id
            decision.run_key = f"{prefix}-rotate-{run.run_id}"
            decision.reason = (
                f"group {group!r}: recorder run {run.run_id} is {age} old: starting its successor"
            )
        else:
            decision.reason = f"group {group!r}: recorder run {run.run_id} is live ({run.status})"
        return decision
    newest = live[-1]
    state = states.get(newest.run_id)
    if state is not None and state.alive(now, stale_after_s) and _ready(state, now, ready_after_s):
        # A station moved to another group is recorded by the old run alone until that group's recorder
        # takes it, and the successor never loads it: stopping the old run then would leave a hole.
        handing_over = [r.run_id for r in live[:-1] if _hands_over(states.get(r.run_id))]
        decision.stop = [r.run_id for r in live[:-1] if r.run_id not in handing_over]
        stopping = ", ".join(decision.stop) or "none yet"
        decision.reason = f"group {group!r}: rotation: run {newest.run_id} is recording; stopping {stopping}"
        if handing_over:
            decision.reason += f" (waiting for {', '.join(handing_over)} to hand moved stations over)"
    else:
        waiting = f"waiting for run {newest.run_id} to record before stopping the old one"
        decision.reason = f"group {group!r}: rotation: {waiting}"
    return decision


def retire(
    runs: list[RecorderRun],
    states: dict[str, RecorderState],
    now: datetime,
    *,
    group: str,
    startup_grace_s: float = 180.0,
    stale_after_s: float = STALE_AFTER_S,
) -> Decision:
    """Decide for a group with no station left: stop its live runs once they hold no station."""
    decision = Decision()
    live = _live_runs(runs, states, now, decision, startup_grace_s, stale_after_s)
    waiting = []
    for run in live:
        state = states.get(run.run_id)
        if state is not None and state.stopped:
            continue  # already stopping by itself
        # A run with no heartbeat yet may still load stations: only an empty heartbeat proves it holds none.
        if state is not None and not state.stations:
            decision.stop.append(run.run_id)
        else:
            waiting.append(run.run_id)
    if decision.stop:
        decision.reason = f"group {group!r} has no station left: stopping {', '.join(decision.stop)}"
    elif waiting:
        decision.reason = (
            f"group {group!r} has no station left: waiting for {', '.join(waiting)} to hand over"
        )
    else:
        decision.reason = f"group {group!r} has no station left and no live run"
    return decision


def groups_to_record(
    station_groups: set[str] | None, allowed: frozenset[str] | None, live_groups: Iterable[str]
) -> set[str]:
    """The groups that need a recorder run here: those of stations.yaml, limited to `allowed` (None = all).

    Unreadable stations.yaml (`station_groups` None): the allowed groups, or else those of the live runs
    (or `default` when none), so that a bad edit neither stops nor starts a group.
    """
    if station_groups is not None:
        return set(station_groups) if allowed is None else set(station_groups) & allowed
    if allowed is not None:
        return set(allowed)
    return set(live_groups) or {DEFAULT_RECORDER_GROUP}


def decide_groups(
    runs: list[RecorderRun],
    states: dict[str, RecorderState],
    now: datetime,
    *,
    station_groups: set[str] | None,
    allowed: frozenset[str] | None = None,
    rotate_after: timedelta = timedelta(days=1),
    startup_grace_s: float = 180.0,
    stale_after_s: float = STALE_AFTER_S,
    ready_after_s: float = 120.0,
) -> dict[str, Decision]:
    """One decision per group: `decide()` for each group to record here, `retire()` for emptied ones."""
    by_group: dict[str, list[RecorderRun]] = {}
    for run in runs:
        by_group.setdefault(run.group, []).append(run)
    live_groups = {r.group for r in runs if r.status in ACTIVE_STATUSES}
    wanted = groups_to_record(station_groups, allowed, live_groups)
    decisions = {
        group: decide(
            by_group.get(group, []),
            states,
            now,
            group=group,
            rotate_after=rotate_after,
            startup_grace_s=startup_grace_s,
            stale_after_s=stale_after_s,
            ready_after_s=ready_after_s,
        )
        for group in sorted(wanted)
    }
    if station_groups is None:
        return decisions  # what has no station left is unknown: retire nothing
    for group in sorted(live_groups - wanted):
        if allowed is None or group in allowed:  # another host's groups are its supervisor's business
            decisions[group] = retire(
                by_group[group],
                states,
                now,
                group=group,
                startup_grace_s=startup_grace_s,
                stale_after_s=stale_after_s,
            )
    return decisions


def _live_runs(
    runs: list[RecorderRun],
    states: dict[str, RecorderState],
    now: datetime,
    decision: Decision,
    startup_grace_s: float,
    stale_after_s: float,
) -> list[RecorderRun]:
    """The active runs that are not dead, oldest first; dead ones go to `decision.mark_failed`."""
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
    return sorted(live, key=lambda r: r.launched_at)


def _hands_over(state: RecorderState | None) -> bool:
    """The recorder still records a station moved to another group, for want of a recorder there."""
    return state is not None and any(info.get("moving_to") for info in state.stations.values())


def _ready(state: RecorderState, now: datetime, ready_after_s: float) -> bool:
    """Every station of the new recorder records, or it has been up long enough to be as good as it gets."""
    statuses = [s.get("status") for s in state.stations.values()]
    if statuses and all(status == "recording" for status in statuses):
        return True
    return (now - state.started_at).total_seconds() >= ready_after_s
