"""`recorder`: one long-running run that records one recorder group's stations until rotated or stopped."""

import dagster as dg
from pydantic import Field

from pige_pipeline.lib.resources import PigeResource
from pige_pipeline.recorder.groups import describe, parse_groups
from pige_pipeline.recorder.multi_station import Recorder
from pige_pipeline.recorder.station_loop import RecorderConfig
from pige_pipeline.recorder.supervisor import GROUP_TAG, ROLE, ROLE_TAG
from pige_pipeline.silence.live import LiveAlerts


class RecorderRunConfig(dg.Config):
    """Recorder settings for one run."""

    segment_seconds: int = 3600
    backoff_max_s: float = 5.0
    icy: bool = True
    live_alerts: bool = Field(
        True,
        description="Page on dead air within a minute while recording (stations can opt out with "
        "silence.live_alerts: false in stations.yaml).",
    )
    groups: list[str] | None = Field(
        None,
        description="Recorder groups to record. Unset or empty: the run's pige/recorder_group tag (set "
        "by recorder_supervisor), or every station when the run has no such tag.",
    )


def run_groups(configured: list[str] | None, tag: str | None) -> frozenset[str] | None:
    """The groups a recorder run records: its op config, else its group tag, else all (None)."""
    if configured:
        return parse_groups(",".join(configured))
    return parse_groups(tag)


@dg.op(
    description="Record the enabled stations of this run's recorder group into hourly chunks until stopped."
)
def record_stations(context: dg.OpExecutionContext, config: RecorderRunConfig, pige: PigeResource) -> None:
    settings = pige.settings()
    groups = run_groups(config.groups, context.run.tags.get(GROUP_TAG))
    live = LiveAlerts(settings.data_root, settings.stations_file) if config.live_alerts else None
    recorder = Recorder(
        settings.data_root,
        settings.stations_file,
        RecorderConfig(
            segment_seconds=config.segment_seconds, backoff_max_s=config.backoff_max_s, icy=config.icy
        ),
        recorder_id=context.run_id,
        run_id=context.run_id,
        on_event=lambda message: _log(context, message),
        groups=groups,
        sink=live.monitor if live else None,
    )
    context.log.info(
        f"recording {describe(groups)}; " + (live.describe if live else "live dead-air alerts off")
    )
    # Termination (rotation, cancel) interrupts the wait inside run(); its `finally` closes every
    # station's current chunk cleanly before the run ends.
    try:
        stats = recorder.run()
    finally:
        if live:
            live.close()
    summary = {
        sid: {"chunks": st.segments, "seconds": round(st.seconds, 1), "gaps": len(st.gaps), "error": st.error}
        for sid, st in sorted(stats.items())
    }
    context.add_output_metadata(
        {
            "groups": describe(groups),
            "stations": len(stats),
            "chunks": sum(st.segments for st in stats.values()),
            "recorded_hours": round(sum(st.seconds for st in stats.values()) / 3600, 3),
            "gaps": sum(len(st.gaps) for st in stats.values()),
            "per_station": dg.MetadataValue.json(summary),
            "config_errors": dg.MetadataValue.json(recorder.config_errors),
        }
    )


def _log(context: dg.OpExecutionContext, message: str) -> None:
    (context.log.error if message.startswith("error") else context.log.info)(message)


@dg.job(
    description="Record stations 24/7, one run per recorder group (kept alive and rotated by "
    "`recorder_supervisor`).",
    # No run-monitoring max runtime: the recorder runs for days on purpose.
    tags={ROLE_TAG: ROLE, "dagster/max_runtime": "0"},
    # The recorder must run in the process that launched it, whatever executor the processing jobs use
    # (multiprocess, Celery): its ffmpegs and heartbeat belong to this run's process.
    executor_def=dg.in_process_executor,
)
def recorder() -> None:
    record_stations()
