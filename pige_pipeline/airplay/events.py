"""`airplay_events` rows from verified plays, the ICY second opinion, and joining plays across hours."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa

from pige_pipeline.airplay.index import CatalogueIndex
from pige_pipeline.airplay.matcher import Play
from pige_pipeline.hours import HOUR, hour_start
from pige_pipeline.intervals import Event, Segment, stitch
from pige_pipeline.recorder.nowplaying import read_nowplaying

log = logging.getLogger(__name__)
HOUR_S = HOUR.total_seconds()
# A play edge this close to the hour's edge, far from the track's own edge, continues across it.
EDGE_S = 1.5
# Reference offsets of two parts of one play must line up within this (boundary error of both parts).
JOIN_TOLERANCE_S = 4.0
# A part of a play shorter than this inside the hour is edge jitter, not audio of the play: no row.
MIN_PART_S = 0.5

AIRPLAY_EVENTS_SCHEMA = pa.schema(
    [
        ("station", pa.string()),
        ("hour", pa.timestamp("us", tz="UTC")),
        ("play_id", pa.string()),
        ("track_id", pa.string()),
        ("title", pa.string()),
        ("artist", pa.string()),
        ("isrc", pa.string()),
        ("start", pa.timestamp("us", tz="UTC")),
        ("end", pa.timestamp("us", tz="UTC")),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("ref_offset_s", pa.float64()),
        ("duration_s", pa.float64()),
        ("score", pa.float64()),
        ("confidence", pa.float64()),
        ("icy_title", pa.string()),
        ("continues_from_previous_hour", pa.bool_()),
        ("continues_into_next_hour", pa.bool_()),
        ("speed", pa.float64()),
        ("ber", pa.float64()),
        # The whole play as matched from this hour with its neighbours' margins (may lie outside it):
        # the analytics `plays` table takes the earliest start and latest end of a play's parts.
        ("play_start", pa.timestamp("us", tz="UTC")),
        ("play_end", pa.timestamp("us", tz="UTC")),
    ]
)


def play_rows(
    station: str,
    hour: datetime,
    plays: Iterable[Play],
    index: CatalogueIndex,
    data_root: Path | None = None,
) -> list[dict]:
    """One `airplay_events` row per play: its part inside the hour, and its whole extent."""
    hour = hour_start(hour)
    plays = list(plays)
    icy = _icy_changes(data_root, station, hour) if data_root is not None and plays else []
    rows = []
    for play in plays:
        start_s, end_s = max(0.0, play.start_s), min(HOUR_S, play.end_s)
        if end_s - start_s < MIN_PART_S:
            continue
        track = index.tracks.iloc[play.track]
        # The reference offset where this hour's part begins (later than the play's when it began before).
        ref_offset = play.track_s(start_s)
        track_left = float(track["duration_s"]) - ref_offset - (end_s - start_s) * play.speed
        start, end = hour + timedelta(seconds=start_s), hour + timedelta(seconds=end_s)
        rows.append(
            {
                "play_id": _play_id(station, hour, play.track_id, start_s),
                "track_id": play.track_id,
                "title": track.get("title") or None,
                "artist": track.get("artist") or None,
                "isrc": track.get("isrc") or None,
                "start": start,
                "end": end,
                "start_s": round(start_s, 3),
                "end_s": round(end_s, 3),
                "ref_offset_s": round(ref_offset, 3),
                "duration_s": round(end_s - start_s, 3),
                "score": round(play.score, 4),
                "confidence": round(play.confidence, 4),
                "icy_title": _title_during(icy, start, end),
                "continues_from_previous_hour": bool(
                    play.start_s < 0.0
                    or (start_s <= EDGE_S and play.piece_start_s <= EDGE_S and play.ref_offset_s > EDGE_S)
                ),
                "continues_into_next_hour": bool(
                    play.end_s > HOUR_S
                    or (
                        end_s >= HOUR_S - EDGE_S
                        and play.piece_end_s >= HOUR_S - EDGE_S
                        and track_left > EDGE_S
                    )
                ),
                "speed": play.speed,
                "ber": round(play.ber, 4),
                "play_start": hour + timedelta(seconds=round(play.start_s, 3)),
                "play_end": hour + timedelta(seconds=round(play.end_s, 3)),
            }
        )
    return rows


def _play_id(station: str, hour: datetime, track_id: str, start_s: float) -> str:
    key = f"{station}|{hour:%Y-%m-%dT%H}|{track_id}|{start_s:.0f}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _icy_changes(data_root: Path, station: str, hour: datetime) -> list[tuple[datetime, str]]:
    """ICY title changes around the hour, as the recorder logged them (none when it logged nothing)."""
    try:
        items = read_nowplaying(data_root, station, hour, hour + HOUR)
    except Exception as exc:  # a second opinion only: never fail the plays because of it
        log.warning("station %r: ICY now-playing not available (%s)", station, exc)
        return []
    return sorted((item.at, item.stream_title) for item in items)


def _title_during(changes: list[tuple[datetime, str]], start: datetime, end: datetime) -> str | None:
    """The title that was announced for most of [start, end)."""
    best, best_s = None, 0.0
    for i, (at, title) in enumerate(changes):
        until = changes[i + 1][0] if i + 1 < len(changes) else end
        overlap = (min(until, end) - max(at, start)).total_seconds()
        if overlap > best_s and title:
            best, best_s = title, overlap
    return best


def _segment(row: pd.Series) -> Segment:
    return Segment(
        key=(row["station"], row["track_id"]),
        start=row["start"].to_pydatetime(),
        end=row["end"].to_pydatetime(),
        payload=row.to_dict(),
    )


def joinable(previous: Segment, following: Segment) -> bool:
    """Two parts are one play when the reference keeps running across the gap between them."""
    a, b = previous.payload, following.payload
    gap = (following.start - previous.end).total_seconds()
    expected = a["ref_offset_s"] + (a["duration_s"] + gap) * float(a.get("speed") or 1.0)
    return abs(b["ref_offset_s"] - expected) <= JOIN_TOLERANCE_S


def stitch_plays(rows: pd.DataFrame) -> list[Event]:
    """Whole plays from `airplay_events` rows of any hours, each counted once (`intervals.stitch`)."""
    if rows is None or rows.empty:
        return []
    return stitch((_segment(r) for _, r in rows.iterrows()), max_gap=timedelta(seconds=2), joinable=joinable)


def _speed(part: dict) -> float:
    speed = part.get("speed")
    return float(speed) if speed is not None and not pd.isna(speed) else 1.0


def play_extent(start: datetime, end: datetime, parts: list[dict]) -> tuple[datetime, datetime]:
    """A stitched play's start and end: the earliest and latest its parts' hours saw (`play_start`)."""
    for part in parts:
        for column, later in (("play_start", False), ("play_end", True)):
            value = part.get(column)
            if value is None or pd.isna(value):
                continue
            value = pd.Timestamp(value).to_pydatetime()
            if later:
                end = max(end, value)
            else:
                start = min(start, value)
    return start, end


def plays_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Stitched plays as a table: station, track_id, start, end, duration_s, ref_offset_s, score."""
    out = []
    for event in stitch_plays(rows):
        parts = [s.payload for s in event.segments]
        start, end = play_extent(event.start, event.end, parts)
        out.append(
            {
                "station": event.key[0],
                "track_id": event.key[1],
                "start": start,
                "end": end,
                "duration_s": (end - start).total_seconds(),
                "ref_offset_s": max(
                    0.0, parts[0]["ref_offset_s"] - (event.start - start).total_seconds() * _speed(parts[0])
                ),
                "score": min(p["score"] for p in parts),
                "confidence": min(p["confidence"] for p in parts),
                "parts": len(parts),
            }
        )
    return pd.DataFrame(out)
