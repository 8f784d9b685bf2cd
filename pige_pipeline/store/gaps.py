"""The recorder's gap log: every stretch of time a station was not recorded, with its cause.

The recorder appends one JSON line per gap, per station and UTC day:

    {data_root}/recorder/gaps/{station}/{YYYY-MM-DD}.jsonl
    {"station": "...", "start": "2026-11-22T10:03:12.4+00:00", "end": "...", "cause": "...", "detail": ""}

`end` is null while an outage is still going on; the recorder appends a second line with the same
`start` and the real `end` when the stream is back, and readers keep the latest line for a start.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pige_pipeline.hours import utc
from pige_pipeline.jsonl import append_record, read_records

log = logging.getLogger(__name__)

# Known causes; free text is allowed too, but these are what reports group by.
CAUSES = (
    "stream_unreachable",  # could not connect, DNS, HTTP error
    "stream_lost",  # connection dropped mid-recording
    "ffmpeg_exited",  # the recorder's ffmpeg died
    "recorder_down",  # no recorder process was running (crash, kill, host down)
    "disk_full",
    "station_disabled",
)


@dataclass(frozen=True)
class Gap:
    station: str
    start: datetime
    end: datetime | None
    cause: str
    detail: str = ""

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()

    def to_record(self) -> dict:
        data = asdict(self)
        data["start"] = utc(self.start).isoformat()
        data["end"] = utc(self.end).isoformat() if self.end else None
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_record())

    @classmethod
    def from_json(cls, line: str) -> Gap:
        return cls.from_record(json.loads(line))

    @classmethod
    def from_record(cls, data: dict) -> Gap:
        return cls(
            station=data["station"],
            start=utc(datetime.fromisoformat(data["start"])),
            end=utc(datetime.fromisoformat(data["end"])) if data.get("end") else None,
            cause=data.get("cause", "unknown"),
            detail=data.get("detail", ""),
        )


def gap_log_path(data_root: Path, station: str, day: datetime) -> Path:
    return data_root / "recorder" / "gaps" / station / f"{utc(day):%Y-%m-%d}.jsonl"


def append_gap(data_root: Path, gap: Gap) -> None:
    """Append a gap line, whole or not at all (OSError: the caller keeps the gap and writes it later)."""
    append_record(gap_log_path(data_root, gap.station, gap.start), gap.to_record())


def read_gap_log(path: Path) -> list[Gap]:
    """Every readable line of one day's gap log, in order (a damaged line is skipped with a warning)."""
    gaps = []
    for number, record in enumerate(read_records(path), 1):
        try:
            gaps.append(Gap.from_record(record))
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("%s record %d is not a gap (%s); skipped", path, number, exc)
    return gaps


def read_gaps(data_root: Path, station: str, start: datetime, end: datetime) -> list[Gap]:
    """Gaps of `station` that overlap [start, end), clipped to it; an open gap runs to `end`."""
    start, end = utc(start), utc(end)
    latest: dict[datetime, Gap] = {}
    day = start.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    while day < end:
        for gap in read_gap_log(gap_log_path(data_root, station, day)):
            latest[gap.start] = gap
        day += timedelta(days=1)
    clipped = []
    for gap in sorted(latest.values(), key=lambda g: g.start):
        gap_end = gap.end or end
        if gap_end <= start or gap.start >= end:
            continue
        clipped.append(Gap(gap.station, max(gap.start, start), min(gap_end, end), gap.cause, gap.detail))
    return clipped
