"""`recorder_supervisor`: keep exactly one recorder run alive, relaunch it, rotate it daily."""

import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from pige_pipeline.defs.recorder.jobs import recorder
from pige_pipeline.defs.resources import PigeResource
from pige_pipeline.recorder.state import read_state, request_stop, stop_request_path
from pige_pipeline.recorder.supervisor import (
    LAUNCHED_AT_TAG,
    ROLE,
    ROLE_TAG,
    ROTATES_TAG,
    RecorderRun,
    decide,
)

ROTATE_AFTER = timedelta(hours=float(os.environ.get("PIGE_RECORDER_ROTATE_HOURS", "24")))
# A stopped-but-still-running old run is terminated through the run launcher after this long.
STOP_GRACE = timedelta(minutes=2)
# Off unless asked for: a development `dagster dev` should not start recording on its own.
_AUTOSTART = os.environ.get("PIGE_RECORDER_AUTOSTART", "") == "1"


def recorder_runs(instance: dg.DagsterInstance) -> list[RecorderRun]:
    """The latest recorder runs in the run storage, as the supervisor's pure logic wants them."""
    found = []
    records = instance.get_run_records(filters=dg.RunsFilter(tags={ROLE_TAG: ROLE}), limit=20)
    for record in records:
        run = record.dagster_run
        launched = run.tags.get(LAUNCHED_AT_TAG)
        launched_at = (
            datetime.fromisoformat(launched)
            if launched
            else datetime.fromtimestamp(record.start_time or record.create_timestamp.timestamp(), UTC)
        )
        found.append(RecorderRun(run.run_id, run.status.value, launched_at))
    return found


@dg.sensor(
    job=recorder,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING if _AUTOSTART else dg.DefaultSensorStatus.STOPPED,
    description="Keeps exactly one recorder run alive: relaunches it, rotates it daily without losing audio.",
)
def recorder_supervisor(context: dg.SensorEvaluationContext, pige: PigeResource) -> dg.SensorResult:
    instance = context.instance
    data_root = pige.settings().data_root
    now = datetime.now(UTC)
    runs = recorder_runs(instance)
    states = {r.run_id: s for r in runs if (s := read_state(data_root, r.run_id)) is not None}
    decision = decide(runs, states, now, rotate_after=ROTATE_AFTER)
    for run_id in decision.mark_failed:
        run = instance.get_run_by_id(run_id)
        if run is not None:
            instance.report_run_failed(run, message="recorder sent no heartbeat: presumed dead, relaunching")
    for run_id in decision.stop:
        stop_file = stop_request_path(data_root, run_id)
        if not stop_file.exists():
            request_stop(data_root, run_id, reason="rotation")
            context.log.info(f"asked recorder run {run_id} to stop (rotation)")
        elif now - datetime.fromtimestamp(stop_file.stat().st_mtime, UTC) > STOP_GRACE:
            context.log.warning(f"recorder run {run_id} ignored its stop request: terminating it")
            instance.run_launcher.terminate(run_id)
    context.log.info(decision.reason)
    if not decision.launch:
        return dg.SensorResult(skip_reason=decision.reason)
    tags = {ROLE_TAG: ROLE, LAUNCHED_AT_TAG: now.isoformat()}
    if decision.rotates:
        tags[ROTATES_TAG] = decision.rotates
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=decision.run_key, tags=tags)])
