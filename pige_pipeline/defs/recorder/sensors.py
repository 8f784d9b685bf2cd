"""`recorder_supervisor`: keep one recorder run alive per recorder group, relaunch it, rotate it daily."""

import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from pige_pipeline.defs.recorder.jobs import recorder
from pige_pipeline.lib.resources import PigeResource
from pige_pipeline.recorder.groups import groups_of, parse_groups
from pige_pipeline.recorder.recordable import load_recordable_stations
from pige_pipeline.recorder.state import read_state, request_stop, stop_request_path
from pige_pipeline.recorder.supervisor import (
    ACTIVE_STATUSES,
    GROUP_TAG,
    LAUNCHED_AT_TAG,
    ROLE,
    ROLE_TAG,
    ROTATES_TAG,
    RecorderRun,
    decide_groups,
)
from pige_pipeline.stations import DEFAULT_RECORDER_GROUP, StationsFileError

ROTATE_AFTER = timedelta(hours=float(os.environ.get("PIGE_RECORDER_ROTATE_HOURS", "24")))
# A stopped-but-still-running old run is terminated through the run launcher after this long.
STOP_GRACE = timedelta(minutes=2)
# Off unless asked for: a development `dagster dev` should not start recording on its own.
_AUTOSTART = os.environ.get("PIGE_RECORDER_AUTOSTART", "") == "1"
# The recorder groups this host's daemon launches (comma-separated); unset = every group of stations.yaml.
GROUPS_ENV = "PIGE_RECORDER_GROUPS"


def _recorder_run(record: dg.RunRecord) -> RecorderRun:
    run = record.dagster_run
    launched = run.tags.get(LAUNCHED_AT_TAG)
    launched_at = (
        datetime.fromisoformat(launched)
        if launched
        else datetime.fromtimestamp(record.start_time or record.create_timestamp.timestamp(), UTC)
    )
    return RecorderRun(
        run.run_id, run.status.value, launched_at, run.tags.get(GROUP_TAG, DEFAULT_RECORDER_GROUP)
    )


def recorder_runs(instance: dg.DagsterInstance, groups: Iterable[str]) -> list[RecorderRun]:
    """Every live recorder run, and the latest runs of each of `groups`, for the supervisor's pure logic."""
    active = [dg.DagsterRunStatus(status) for status in sorted(ACTIVE_STATUSES)]
    # One query per group: one busy group's relaunches must not push another group's runs out of a window.
    filters = [dg.RunsFilter(tags={ROLE_TAG: ROLE}, statuses=active)]
    filters += [dg.RunsFilter(tags={ROLE_TAG: ROLE, GROUP_TAG: group}) for group in sorted(groups)]
    found: dict[str, RecorderRun] = {}
    for index, runs_filter in enumerate(filters):
        for record in instance.get_run_records(filters=runs_filter, limit=200 if index == 0 else 20):
            found.setdefault(record.dagster_run.run_id, _recorder_run(record))
    return list(found.values())


def allowed_groups() -> frozenset[str] | None:
    """The groups `PIGE_RECORDER_GROUPS` lets this host launch; None = every group."""
    try:
        return parse_groups(os.environ.get(GROUPS_ENV))
    except ValueError as exc:
        raise ValueError(f"{GROUPS_ENV}={os.environ.get(GROUPS_ENV)!r}: {exc}") from None


@dg.sensor(
    job=recorder,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING if _AUTOSTART else dg.DefaultSensorStatus.STOPPED,
    description="Keeps one recorder run alive per recorder group: relaunches it, rotates it daily "
    "without losing audio.",
)
def recorder_supervisor(context: dg.SensorEvaluationContext, pige: PigeResource) -> dg.SensorResult:
    instance = context.instance
    settings = pige.settings()
    data_root = settings.data_root
    now = datetime.now(UTC)
    allowed = allowed_groups()
    in_file: set[str] | None
    try:
        stations, _errors = load_recordable_stations(settings.stations_file)
        in_file = groups_of(stations)
    except StationsFileError as exc:
        context.log.error(f"{exc}: keeping the recorder groups as they are")
        in_file = None
    runs = recorder_runs(instance, (in_file or set()) | (allowed or set()) | {DEFAULT_RECORDER_GROUP})
    states = {r.run_id: s for r in runs if (s := read_state(data_root, r.run_id)) is not None}
    decisions = decide_groups(
        runs, states, now, station_groups=in_file, allowed=allowed, rotate_after=ROTATE_AFTER
    )
    requests = []
    for group, decision in decisions.items():
        for run_id in decision.mark_failed:
            run = instance.get_run_by_id(run_id)
            if run is not None:
                instance.report_run_failed(
                    run, message="recorder sent no heartbeat: presumed dead, relaunching"
                )
        for run_id in decision.stop:
            _stop(context, data_root, run_id, now, decision.reason)
        context.log.info(decision.reason)
        if decision.launch:
            tags = {ROLE_TAG: ROLE, GROUP_TAG: group, LAUNCHED_AT_TAG: now.isoformat()}
            if decision.rotates:
                tags[ROTATES_TAG] = decision.rotates
            requests.append(dg.RunRequest(run_key=decision.run_key, tags=tags))
    if not requests:
        return dg.SensorResult(skip_reason="; ".join(d.reason for d in decisions.values()))
    return dg.SensorResult(run_requests=requests)


def _stop(
    context: dg.SensorEvaluationContext, data_root: Path, run_id: str, now: datetime, reason: str
) -> None:
    """Ask a recorder run to stop (it finishes its chunks); terminate it if it ignores the request."""
    stop_file = stop_request_path(data_root, run_id)
    if not stop_file.exists():
        request_stop(data_root, run_id, reason=reason)
        context.log.info(f"asked recorder run {run_id} to stop ({reason})")
    elif now - datetime.fromtimestamp(stop_file.stat().st_mtime, UTC) > STOP_GRACE:
        context.log.warning(f"recorder run {run_id} ignored its stop request: terminating it")
        context.instance.run_launcher.terminate(run_id)
