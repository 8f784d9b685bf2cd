"""`dead_air_alerts`: the audited record of dead air, hour by hour, with notifications sent once."""

from __future__ import annotations

from typing import Any

import dagster as dg

from pige_pipeline.airplay.index import load_index
from pige_pipeline.lib.hourly import StationHour, StationOutput, station_hour_asset
from pige_pipeline.settings import PigeSettings
from pige_pipeline.silence.alerts import DEAD_AIR_ALERTS_SCHEMA, SilencesMissingError, dead_air_alert_rows
from pige_pipeline.silence.classify import classify_rules
from pige_pipeline.silence.llm import LLMClassifier
from pige_pipeline.silence.reference import reference_from_index_tracks
from pige_pipeline.stations import Station
from pige_pipeline.store.hour_audio import NoAudioError


def _setup(
    context: dg.OpExecutionContext, settings: PigeSettings, _stations: list[Station]
) -> dict[str, Any]:
    notifier = context.resources.notifier.notifier(settings.data_root)
    context.log.info(f"dead-air notifications: {notifier.settings.describe()}")
    llm = context.resources.llm.ollama_settings()
    classifier = LLMClassifier(llm) if llm.enabled else classify_rules
    index = load_index(settings.state_dir / "catalogue")
    if index is None:
        context.log.warning(
            "no catalogue index: a silence inside a play cannot be checked against the track's own audio "
            "(materialize `catalogue`); such silences are called suspect"
        )
    reference = reference_from_index_tracks(index.tracks if index is not None else [])
    return {"notifier": notifier, "classifier": classifier, "reference": reference}


def _alerts(sh: StationHour, shared: dict[str, Any]) -> StationOutput:
    try:
        rows = dead_air_alert_rows(
            sh.settings.data_root,
            sh.station,
            sh.hour,
            shared["notifier"],
            shared["classifier"],
            shared["reference"],
        )
    except SilencesMissingError as exc:
        raise NoAudioError(str(exc)) from None
    undelivered = [r["alert_id"] for r in rows if r["notification_status"].startswith("pending")]
    for row in rows:
        sh.log.info(
            f"{sh.station.id} {row['severity']} {row['classification']} dead air {row['duration_s']:.1f} s "
            f"at {row['start']:%H:%M:%S}: {row['notification_status']}"
        )
    # The channel's own error (host, port, what to set) is what the engineer needs to fix it;
    # notification_status reads "pending (<error>)".
    reasons = sorted(
        {
            r["notification_status"][len("pending (") : -1]
            for r in rows
            if r["notification_status"].startswith("pending (")
        }
    )
    problem = (
        f"{len(undelivered)} suspect alert(s) not delivered yet (retried every minute): "
        + ", ".join(undelivered)
        + (f"; {'; '.join(reasons)}" if reasons else "")
        if undelivered
        else None
    )
    return StationOutput(rows, problem)


dead_air_alerts = station_hour_asset(
    name="dead_air_alerts",
    description="Silences over each station's alert duration: severity, context, natural/suspect, notified.",
    schema=DEAD_AIR_ALERTS_SCHEMA,
    compute=_alerts,
    # The classification reads the hour's plays and the context reads its transcript: run after both,
    # so the first run of an hour gives the same alerts as a re-run.
    deps=["silences", "airplay_events", "transcripts"],
    setup=_setup,
    resources=["notifier", "llm"],
    group_name="dead_air",
    check_description="Fails when a station's alerts cannot be computed or a suspect one is undelivered.",
)
