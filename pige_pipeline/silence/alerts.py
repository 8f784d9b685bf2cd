"""`dead_air_alerts` rows: stitched silences over the alert duration, with severity, context,
classification and the notification state of each."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa

from pige_pipeline.hours import HOUR, hour_start
from pige_pipeline.intervals import Segment, stitch
from pige_pipeline.notify import DeliveryState, Notification, Notifier
from pige_pipeline.parquet_store import asset_hour_path, read_asset_hour
from pige_pipeline.silence.classify import (
    Classification,
    DeadAirEvent,
    EventClassifier,
    EventContext,
    classify_rules,
)
from pige_pipeline.stations import SilenceSettings, Station
from pige_pipeline.store import hour_chunks

CONTEXT_S = 5.0
# Segments of one silence on both sides of an hour boundary touch; a recorder restart may leave a hair.
STITCH_GAP = timedelta(seconds=0.5)
NOTIFICATION_KIND = "dead_air"
# The live monitor's pages (silence/live.py): an hourly alert for a silence already paged is not resent.
LIVE_NOTIFICATION_KIND = "dead_air_live"
# A live onset (measured on arrival) this close to the recorded start is the same silence.
LIVE_MATCH_S = 15.0

DEAD_AIR_ALERTS_SCHEMA = pa.schema(
    [
        ("station", pa.string()),
        ("hour", pa.timestamp("us", tz="UTC")),
        ("alert_id", pa.string()),
        ("start", pa.timestamp("us", tz="UTC")),
        ("end", pa.timestamp("us", tz="UTC")),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("duration_s", pa.float64()),
        ("severity", pa.string()),
        ("classification", pa.string()),
        ("confidence", pa.float64()),
        ("explanation", pa.string()),
        ("classifier", pa.string()),
        ("context_start_s", pa.float64()),
        ("context_end_s", pa.float64()),
        ("context_transcript", pa.string()),
        ("notified_at", pa.timestamp("us", tz="UTC")),
        ("notification_status", pa.string()),
        # Added by the dead-air domain.
        ("kind", pa.string()),
        ("level_db", pa.float64()),
        ("ongoing", pa.bool_()),
    ]
)


class SilencesMissingError(LookupError):
    """`silences` was not written for the station-hour (no audio, or not materialised yet)."""


def alert_id(station: str, start: datetime) -> str:
    """Stable for the same silence: the station and the start rounded to 0.1 s."""
    tenths = round(start.timestamp() * 10)
    moment = datetime.fromtimestamp(tenths // 10, start.tzinfo)
    return f"{station}/{moment:%Y-%m-%dT%H:%M:%S}.{tenths % 10}Z"


def severity(duration_s: float, settings: SilenceSettings) -> str:
    if duration_s >= settings.critical_seconds:
        return "critical"
    if duration_s >= settings.warning_seconds:
        return "warning"
    return "info"


def _segments(data_root: Path, station: str, hours: list[datetime]) -> tuple[list[Segment], set[datetime]]:
    segments, seen = [], set()
    for h in hours:
        frame = read_asset_hour(data_root, "silences", station, h)
        if frame is None:
            continue
        seen.add(h)
        for row in frame.to_dict("records"):
            segments.append(Segment(station, row["start"].to_pydatetime(), row["end"].to_pydatetime(), row))
    return segments, seen


def stitched_events(data_root: Path, station: str, hour: datetime) -> list[DeadAirEvent]:
    """Silences of the hour and its neighbours, joined across boundaries, that overlap the hour."""
    hour = hour_start(hour)
    if read_asset_hour(data_root, "silences", station, hour) is None:
        raise SilencesMissingError(
            f"station {station!r}, hour {hour:%Y-%m-%d %H:00Z}: no `silences` written "
            f"({asset_hour_path(data_root, 'silences', station, hour)}); materialise `silences` first"
        )
    segments, seen = _segments(data_root, station, [hour - HOUR, hour, hour + HOUR])
    events = []
    for ev in stitch(segments, max_gap=STITCH_GAP):
        if ev.end <= hour or ev.start >= hour + HOUR:
            continue
        rows = [s.payload for s in ev.segments]
        total = sum(r["duration_s"] for r in rows) or 1.0
        last = rows[-1]
        events.append(
            DeadAirEvent(
                station=station,
                start=ev.start,
                end=ev.end,
                level_db=round(sum(r["level_db"] * r["duration_s"] for r in rows) / total, 2),
                kind=max(rows, key=lambda r: r["duration_s"])["kind"],
                fade_db_per_s=None if pd.isna(rows[0]["fade_db_per_s"]) else float(rows[0]["fade_db_per_s"]),
                ongoing=bool(last["continues_into_next_hour"])
                and hour_start(last["hour"].to_pydatetime()) + HOUR not in seen,
            )
        )
    return events


def owned_events(data_root: Path, station: str, hour: datetime) -> list[DeadAirEvent]:
    """Events this hour reports, each exactly once across hours whatever order they run in.

    Those starting in it, except one at its very start while the previous hour has audio but no
    `silences` yet (it will report the whole event); and those from the previous hour that its
    `dead_air_alerts` missed because the rest of the silence was not there yet when it ran.
    """
    hour = hour_start(hour)
    events = stitched_events(data_root, station, hour)
    previous = read_asset_hour(data_root, "dead_air_alerts", station, hour - HOUR)
    reported = set(previous["alert_id"]) if previous is not None else None
    # The previous hour will see this event whole once it runs, if it has audio but no `silences` yet.
    previous_pending = read_asset_hour(data_root, "silences", station, hour - HOUR) is None and bool(
        hour_chunks(data_root, station, hour - HOUR)
    )
    owned = []
    for ev in events:
        if ev.start >= hour + STITCH_GAP or (ev.start >= hour and not previous_pending):
            owned.append(ev)
        elif ev.start < hour and reported is not None and alert_id(station, ev.start) not in reported:
            # It started in the previous hour, which ran before the rest of it existed and missed it.
            owned.append(ev)
    return owned


def load_context(data_root: Path, station: Station, hour: datetime) -> EventContext:
    """Plays and transcripts of the hour and its neighbours, when those assets exist."""
    frames: dict[str, pd.DataFrame | None] = {}
    for asset in ("airplay_events", "transcripts"):
        parts = [read_asset_hour(data_root, asset, station.id, h) for h in (hour - HOUR, hour, hour + HOUR)]
        parts = [p for p in parts if p is not None and len(p)]
        frames[asset] = pd.concat(parts, ignore_index=True) if parts else None
    return EventContext(frames["airplay_events"], frames["transcripts"], station.timezone)


def context_transcript(ctx: EventContext, event: DeadAirEvent) -> str | None:
    if ctx.transcripts is None:
        return None
    pad = timedelta(seconds=CONTEXT_S)
    before = ctx.words_between(event.start - pad, event.start)
    after = ctx.words_between(event.end, event.end + pad)
    return f"before: {before or '(nothing said)'} | after: {after or '(nothing said)'}"


def alert_notification(station: Station, row: dict[str, Any]) -> Notification:
    """The email/webhook for one alert: station, times (UTC and local), severity, classification."""
    tz = ZoneInfo(station.timezone)
    start, end = row["start"], row["end"]
    local = f"{start.astimezone(tz):%Y-%m-%d %H:%M:%S} to {end.astimezone(tz):%H:%M:%S} {station.timezone}"
    subject = (
        f"[pige] {row['severity'].upper()} dead air on {station.name}: {row['duration_s']:.0f} s "
        f"at {start.astimezone(tz):%H:%M:%S} ({row['classification']})"
    )
    lines = [
        f"Station: {station.name} ({station.id})",
        f"When (UTC): {start:%Y-%m-%d %H:%M:%S.%f}"[:-5] + f" to {end:%H:%M:%S.%f}"[:-5],
        f"When (local): {local}",
        f"Duration: {row['duration_s']:.1f} s"
        + (" (still going at the end of the audio seen)" if row["ongoing"] else ""),
        f"Severity: {row['severity']}",
        f"Classification: {row['classification']} (confidence {row['confidence']:.2f}, {row['classifier']})",
        f"Why: {row['explanation']}",
        f"What: {row['kind'].replace('_', ' ')} at {row['level_db']:.1f} dBFS",
        f"Listen: {row['context_start_s']:.1f} s to {row['context_end_s']:.1f} s into the hour "
        f"{row['hour']:%Y-%m-%d %H:00Z}",
    ]
    if row.get("context_transcript"):
        lines.append(f"Context: {row['context_transcript']}")
    lines.append(f"Alert id: {row['alert_id']}")
    data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
    return Notification(
        key=f"{NOTIFICATION_KIND}:{row['alert_id']}",
        subject=subject,
        body="\n".join(lines) + "\n",
        kind=NOTIFICATION_KIND,
        data=data,
    )


def live_page(notifier: Notifier, station: str, ev: DeadAirEvent) -> DeliveryState | None:
    """The live monitor's page for this silence, if one was sent: the hourly record does not page again."""
    start = ev.start.timestamp()
    for note, state in notifier.outbox.find(LIVE_NOTIFICATION_KIND, start - 60, ev.end.timestamp() + 600):
        onset = note.data.get("onset")
        same_station = note.data.get("station") == station and onset
        if same_station and abs(datetime.fromisoformat(onset).timestamp() - start) <= LIVE_MATCH_S:
            return state
    return None


def dead_air_alert_rows(
    data_root: Path,
    station: Station,
    hour: datetime,
    notifier: Notifier | None,
    classifier: EventClassifier = classify_rules,
) -> list[dict[str, Any]]:
    """Alerts for one station-hour; suspect ones are sent through the notifier (once per alert id)."""
    hour = hour_start(hour)
    settings = station.silence
    ctx = load_context(data_root, station, hour)
    rows = []
    for ev in owned_events(data_root, station.id, hour):
        if ev.duration_s + 1e-6 < settings.alert_seconds:
            continue
        try:
            verdict = classifier(ev, ctx, settings)
        except Exception as exc:  # an LLM that is down must not cost the alert: fall back to the rules
            verdict = classify_rules(ev, ctx, settings)
            verdict = Classification(
                verdict.classification, verdict.confidence,
                f"{verdict.explanation} (classifier failed: {type(exc).__name__}: {exc})", verdict.classifier,
            )  # fmt: skip
        start_s = (ev.start - hour).total_seconds()
        end_s = (ev.end - hour).total_seconds()
        row: dict[str, Any] = {
            "hour": hour,
            "alert_id": alert_id(station.id, ev.start),
            "start": ev.start,
            "end": ev.end,
            "start_s": round(start_s, 3),
            "end_s": round(end_s, 3),
            "duration_s": round(ev.duration_s, 3),
            "severity": severity(ev.duration_s, settings),
            "classification": verdict.classification,
            "confidence": verdict.confidence,
            "explanation": verdict.explanation,
            "classifier": verdict.classifier,
            "context_start_s": round(start_s - CONTEXT_S, 3),
            "context_end_s": round(end_s + CONTEXT_S, 3),
            "context_transcript": context_transcript(ctx, ev),
            "notified_at": None,
            "notification_status": "not_sent (natural)",
            "kind": ev.kind,
            "level_db": ev.level_db,
            "ongoing": ev.ongoing,
        }
        if verdict.classification == "suspect":
            live = live_page(notifier, station.id, ev) if notifier is not None else None
            if notifier is None:
                row["notification_status"] = "not_sent (no notifier)"
            elif live is not None:
                row["notified_at"] = live.notified_at
                row["notification_status"] = f"{live.status} (live alert {live.key})"
            else:
                state = notifier.send(alert_notification(station, row))
                row["notified_at"] = state.notified_at
                row["notification_status"] = state.status + (
                    f" ({state.last_error})" if state.last_error else ""
                )
        rows.append(row)
    return rows
