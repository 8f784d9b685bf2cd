"""`recorder`: one long-running run that records every enabled station until it is rotated or stopped."""

import dagster as dg

from pige_pipeline.defs.resources import PigeResource
from pige_pipeline.recorder.core import Recorder, RecorderConfig
from pige_pipeline.recorder.supervisor import ROLE, ROLE_TAG


class RecorderRunConfig(dg.Config):
    """Recorder settings for one run."""

    segment_seconds: int = 3600
    backoff_max_s: float = 5.0
    icy: bool = True


@dg.op(description="Record every enabled station of stations.yaml into hourly chunks until stopped.")
def record_stations(context: dg.OpExecutionContext, config: RecorderRunConfig, pige: PigeResource) -> None:
    settings = pige.settings()
    recorder = Recorder(
        settings.data_root,
        settings.stations_file,
        RecorderConfig(
            segment_seconds=config.segment_seconds, backoff_max_s=config.backoff_max_s, icy=config.icy
        ),
        recorder_id=context.run_id,
        run_id=context.run_id,
        on_event=lambda message: (context.log.error if message.startswith("error") else context.log.info)(
            message
        ),
    )
    # Termination (rotation, cancel) interrupts the wait inside run(); its `finally` closes every
    # station's current chunk cleanly before the run ends.
    stats = recorder.run()
    summary = {
        sid: {"chunks": st.segments, "seconds": round(st.seconds, 1), "gaps": len(st.gaps), "error": st.error}
        for sid, st in sorted(stats.items())
    }
    context.add_output_metadata(
        {
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
    description="Record all stations 24/7 (kept alive and rotated by `recorder_supervisor`).",
    # No run-monitoring max runtime: the recorder runs for days on purpose.
    tags={ROLE_TAG: ROLE, "dagster/max_runtime": "0"},
)
def recorder() -> None:
    record_stations()
