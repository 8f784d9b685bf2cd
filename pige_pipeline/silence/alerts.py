"""`dead_air_alerts` rows: stitched silences over the alert duration, with severity, context,
classification and the notification state of each.

An hour's file holds the part of each alert inside that hour, under the alert's one `alert_id`, with
the whole event as far as it was known (`event_start`, `event_end`, `event_duration_s`, `ongoing`).
A silence still going on when an hour is processed is completed by the next hour's run, which records
the rest under the same id: nothing earlier is rewritten or re-run, and analytics stitches the parts
(docs/architecture.md, "Events across hours"). A part an hour could not record (it ran before the
silence was long enough to alert) is carried by its neighbour, so the parts never overlap or miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa

from pige_pipeline.hours import HOUR, hour_start
from pige_pipeline.intervals import Event, Segment, stitch
from pige_pipeline.notify import DeliveryState, Notification, Notifier
from pige_pipeline.silence.classify import (
    Classification,
    DeadAirEvent,
    EventClassifier,
    EventContext,
    classify_rules,
)
from pige_pipeline.silence.reference import ReferenceAudio
from pige_pipeline.stations import SilenceSettings, Station
from pige_pipeline.store.parquet import asset_hour_path, read_asset_hour

CONTEXT_S = 5.0
# Segments of one silence on both sides of an hour boundary touch; a recorder restart may leave a hair.
STITCH_GAP = timedelta(seconds=0.5)
NOTIFICATION_KIND = "dead_air"
# The live monitor's pages (silence/live.py): an hourly alert for a silence already paged is not resent.
LIVE_NOTIFICATION_KIND = "dead_air_live"
# A live onset (measured on arrival) this close to the recorded start is the same silence.
LIVE_MATCH_S = 15.0
# How far stitching follows a silence into neighbouring hours (a transmitter off overnight).
MAX_EVENT_HOURS = 24

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
        # The whole event as known when the row was written; start/end/duration_s are this hour's part.
        ("event_start", pa.timestamp("us", tz="UTC")),
        ("event_end", pa.timestamp("us", tz="UTC")),
        ("event_duration_s", pa.float64()),
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


def _window_events(segments: list[Segment], hour: datetime) -> list[Event]:
    return [ev for ev in stitch(segments, max_gap=STITCH_GAP) if ev.end > hour and ev.start < hour + HOUR]


def stitched_events(data_root: Path, station: str, hour: datetime) -> list[DeadAirEvent]:
    """Silences of the hour joined across boundaries with every neighbouring hour they run into."""
    hour = hour_start(hour)
    if read_asset_hour(data_root, "silences", station, hour) is None:
        raise SilencesMissingError(
            f"station {station!r}, hour {hour:%Y-%m-%d %H:00Z}: no `silences` written "
            f"({asset_hour_path(data_root, 'silences', station, hour)}); materialise `silences` first"
        )
    first, last = hour - HOUR, hour + HOUR
    segments, seen = _segments(data_root, station, [first, hour, last])
    events = _window_events(segments, hour)
    # A silence reaching the edge of the hours read may go on beyond: read one more hour that way.
    while True:
        back = first - HOUR >= hour - MAX_EVENT_HOURS * HOUR and first in seen
        back = back and any(ev.start <= first + STITCH_GAP for ev in events)
        ahead = last + HOUR <= hour + MAX_EVENT_HOURS * HOUR and last in seen
        ahead = ahead and any(ev.end >= last + HOUR - STITCH_GAP for ev in events)
        if not back and not ahead:
            break
        extra = ([first - HOUR] if back else []) + ([last + HOUR] if ahead else [])
        first, last = (first - HOUR if back else first), (last + HOUR if ahead else last)
        more, more_seen = _segments(data_root, station, extra)
        segments, seen = segments + more, seen | more_seen
        events = _window_events(segments, hour)
    result = []
    for ev in events:
        rows = [s.payload for s in ev.segments]
        total = sum(r["duration_s"] for r in rows) or 1.0
        last_row = rows[-1]
        result.append(
            DeadAirEvent(
                station=station,
                start=ev.start,
                end=ev.end,
                level_db=round(sum(r["level_db"] * r["duration_s"] for r in rows) / total, 2),
                kind=max(rows, key=lambda r: r["duration_s"])["kind"],
                fade_db_per_s=None if pd.isna(rows[0]["fade_db_per_s"]) else float(rows[0]["fade_db_per_s"]),
                ongoing=bool(last_row["continues_into_next_hour"])
                and hour_start(last_row["hour"].to_pydatetime()) + HOUR not in seen,
            )
        )
    return result


@dataclass(frozen=True)
class AlertPart:
    """What one hour's `dead_air_alerts` records of a dead-air event: [start, end) under `alert_id`."""

    event: DeadAirEvent
    alert_id: str
    start: datetime
    end: datetime

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def _rows_of(frame: pd.DataFrame | None, ev: DeadAirEvent) -> pd.DataFrame | None:
    """A neighbour hour's alert rows that are parts of `ev` (they touch it); None if it has no file."""
    if frame is None:
        return None
    start, end = pd.Timestamp(ev.start - STITCH_GAP), pd.Timestamp(ev.end + STITCH_GAP)
    return frame[(frame["start"] <= end) & (frame["end"] >= start)].sort_values("start")


def alert_parts(data_root: Path, station: str, hour: datetime, alert_seconds: float) -> list[AlertPart]:
    """The alert parts this hour records, so that once every hour has run each event is covered once.

    Each hour records the part inside it, minus what a neighbour's record already covers. When a
    neighbour's `dead_air_alerts` is written but lacks the event (it ran while the silence was still
    too short to alert), this hour carries that neighbour's part too. The id is the one a neighbour
    already recorded, else the station and the event's start: one id, so one notification.
    """
    hour = hour_start(hour)
    before = read_asset_hour(data_root, "dead_air_alerts", station, hour - HOUR)
    after = read_asset_hour(data_root, "dead_air_alerts", station, hour + HOUR)
    parts = []
    for ev in stitched_events(data_root, station, hour):
        if ev.duration_s + 1e-6 < alert_seconds:
            continue
        previous, following = _rows_of(before, ev), _rows_of(after, ev)
        lo, hi = max(ev.start, hour), min(ev.end, hour + HOUR)
        if previous is not None and len(previous):
            lo = max(lo, previous["end"].max().to_pydatetime())
        elif previous is not None and ev.start < hour:
            # The previous hour ran and did not record its part: it never will. Only its part: the
            # hour before it answers for its own.
            lo = max(ev.start, hour - HOUR)
        if following is not None and len(following):
            hi = min(hi, following["start"].min().to_pydatetime())
        elif following is not None and ev.end > hour + HOUR:
            hi = min(ev.end, hour + 2 * HOUR)
        if hi <= lo:
            continue  # a neighbour already records all of it that lies here
        known = [f for f in (previous, following) if f is not None and len(f)]
        event_id = str(known[0]["alert_id"].iloc[0]) if known else alert_id(station, ev.start)
        parts.append(AlertPart(ev, event_id, lo, hi))
    return parts


def load_context(
    data_root: Path, station: Station, hour: datetime, reference: ReferenceAudio | None = None
) -> EventContext:
    """Plays and transcripts of the hour and its neighbours, when those assets exist."""
    frames: dict[str, pd.DataFrame | None] = {}
    for asset in ("airplay_events", "transcripts"):
        parts = [read_asset_hour(data_root, asset, station.id, h) for h in (hour - HOUR, hour, hour + HOUR)]
        parts = [p for p in parts if p is not None and len(p)]
        frames[asset] = pd.concat(parts, ignore_index=True) if parts else None
    return EventContext(
        frames["airplay_events"], frames["transcripts"], station.timezone, reference=reference
    )


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
    # The whole event, not the part of it inside the row's hour.
    start, end, duration_s = row["event_start"], row["event_end"], row["event_duration_s"]
    local = f"{start.astimezone(tz):%Y-%m-%d %H:%M:%S} to {end.astimezone(tz):%H:%M:%S} {station.timezone}"
    subject = (
        f"[pige] {row['severity'].upper()} dead air on {station.name}: {duration_s:.0f} s "
        f"at {start.astimezone(tz):%H:%M:%S} ({row['classification']})"
    )
    lines = [
        f"Station: {station.name} ({station.id})",
        f"When (UTC): {start:%Y-%m-%d %H:%M:%S.%f}"[:-5] + f" to {end:%H:%M:%S.%f}"[:-5],
        f"When (local): {local}",
        f"Duration: {duration_s:.1f} s"
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
    reference: ReferenceAudio | None = None,
) -> list[dict[str, Any]]:
    """Alerts for one station-hour; suspect ones are sent through the notifier (once per alert id).

    `reference` (the catalogue's audio) tells a track's own pause from programme lost inside a play.
    """
    hour = hour_start(hour)
    settings = station.silence
    ctx = load_context(data_root, station, hour, reference)
    rows = []
    for part in alert_parts(data_root, station.id, hour, settings.alert_seconds):
        ev = part.event
        try:
            verdict = classifier(ev, ctx, settings)
        except Exception as exc:  # an LLM that is down must not cost the alert: fall back to the rules
            verdict = classify_rules(ev, ctx, settings)
            verdict = Classification(
                verdict.classification, verdict.confidence,
                f"{verdict.explanation} (classifier failed: {type(exc).__name__}: {exc})", verdict.classifier,
            )  # fmt: skip
        event_start_s = (ev.start - hour).total_seconds()
        event_end_s = (ev.end - hour).total_seconds()
        row: dict[str, Any] = {
            "hour": hour,
            "alert_id": part.alert_id,
            "start": part.start,
            "end": part.end,
            "start_s": round((part.start - hour).total_seconds(), 3),
            "end_s": round((part.end - hour).total_seconds(), 3),
            "duration_s": round(part.duration_s, 3),
            "severity": severity(ev.duration_s, settings),
            "classification": verdict.classification,
            "confidence": verdict.confidence,
            "explanation": verdict.explanation,
            "classifier": verdict.classifier,
            "context_start_s": round(event_start_s - CONTEXT_S, 3),
            "context_end_s": round(event_end_s + CONTEXT_S, 3),
            "context_transcript": context_transcript(ctx, ev),
            "notified_at": None,
            "notification_status": "not_sent (natural)",
            "kind": ev.kind,
            "level_db": ev.level_db,
            "ongoing": ev.ongoing,
            "event_start": ev.start,
            "event_end": ev.end,
            "event_duration_s": round(ev.duration_s, 3),
        }
        key = alert_notification(station, row).key
        told = notifier.outbox.state(key) if notifier is not None else None
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
        elif told is not None:
            # Another part of this event, seen earlier as suspect, was already notified: say so.
            row["notified_at"] = told.notified_at
            row["notification_status"] = told.status + (f" ({told.last_error})" if told.last_error else "")
        rows.append(row)
    return rows
