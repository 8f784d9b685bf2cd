"""The recorder's gap log: every stretch of time a station was not recorded, with its cause.

The recorder appends one JSON line per gap, per station and UTC day:

    {data_root}/recorder/gaps/{station}/{YYYY-MM-DD}.jsonl
    {"station": "...", "start": "2026-11-22T10:03:12.4+00:00", "end": "...", "cause": "...", "detail": ""}

`end` is null while an outage is still going on; the recorder appends a second line with the same
`start` and the real `end` when the stream is back, and readers keep the latest line for a start.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pige_pipeline.hours import utc

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

    def to_json(self) -> str:
        data = asdict(self)
        data["start"] = utc(self.start).isoformat()
        data["end"] = utc(self.end).isoformat() if self.end else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, line: str) -> Gap:
        data = json.loads(line)
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
    """Append a gap line; one write per line so concurrent appenders do not interleave."""
    path = gap_log_path(data_root, gap.station, gap.start)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (gap.to_json() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_gaps(data_root: Path, station: str, start: datetime, end: datetime) -> list[Gap]:
    """Gaps of `station` that overlap [start, end), clipped to it; an open gap runs to `end`."""
    start, end = utc(start), utc(end)
    latest: dict[datetime, Gap] = {}
    day = start.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    while day < end:
        path = gap_log_path(data_root, station, day)
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    gap = Gap.from_json(line)
                    latest[gap.start] = gap
        day += timedelta(days=1)
    clipped = []
    for gap in sorted(latest.values(), key=lambda g: g.start):
        gap_end = gap.end or end
        if gap_end <= start or gap.start >= end:
            continue
        clipped.append(Gap(gap.station, max(gap.start, start), min(gap_end, end), gap.cause, gap.detail))
    return clipped
