"""ICY now-playing: the `StreamTitle` changes a stream announces, with the time they were heard.

    {data_root}/recorder/nowplaying/{station}/{YYYY-MM-DD}.jsonl
    {"station": "...", "at": "2026-11-22T10:03:12.400000+00:00", "stream_title": "Artist - Title"}

The recording ffmpeg already asks for ICY metadata (`-icy 1` is its default for http) and, at log
level `verbose`, prints `Metadata update for StreamTitle: ...` each time a block arrives with a new
title. The recorder reads that line from ffmpeg's stderr: no second connection, no extra CPU, and the
time is when the block arrived, which is when the title went on air to the second.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pige_pipeline.hours import utc
from pige_pipeline.jsonl import append_record, read_records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NowPlaying:
    station: str
    at: datetime
    stream_title: str


def nowplaying_path(data_root: Path, station: str, day: datetime) -> Path:
    return data_root / "recorder" / "nowplaying" / station / f"{utc(day):%Y-%m-%d}.jsonl"


def append_nowplaying(data_root: Path, item: NowPlaying) -> None:
    """Append one title change; one write per line so concurrent writers do not interleave."""
    append_record(
        nowplaying_path(data_root, item.station, item.at),
        {"station": item.station, "at": utc(item.at).isoformat(), "stream_title": item.stream_title},
        sync=False,  # a title lost in a crash costs a label, not audio
    )


def read_nowplaying(data_root: Path, station: str, start: datetime, end: datetime) -> list[NowPlaying]:
    """Title changes of `station` in [start, end), oldest first, plus the title already on air at `start`.

    The title in effect at `start` comes back with its original `at` (before `start`) when it was heard
    within the previous day, so a caller can label the first seconds of its window. Repeats of the
    same title (a reconnection, a second recorder during rotation) are dropped.
    """
    start, end = utc(start), utc(end)
    items: list[NowPlaying] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    while day < end:
        path = nowplaying_path(data_root, station, day)
        for number, data in enumerate(read_records(path), 1):
            try:
                items.append(
                    NowPlaying(station, utc(datetime.fromisoformat(data["at"])), data["stream_title"])
                )
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s record %d: not a now-playing record (%s); skipped", path, number, exc)
        day += timedelta(days=1)
    items.sort(key=lambda i: i.at)
    before = [i for i in items if i.at < start]
    inside = [i for i in items if start <= i.at < end]
    result: list[NowPlaying] = before[-1:] if before else []
    for item in inside:
        if result and result[-1].stream_title == item.stream_title:
            continue
        result.append(item)
    return result


def parse_title_line(line: str) -> str | None:
    """The title of an ffmpeg `Metadata update for StreamTitle: ...` log line, else None."""
    marker = "Metadata update for StreamTitle:"
    index = line.find(marker)
    if index < 0:
        return None
    return line[index + len(marker) :].strip()
