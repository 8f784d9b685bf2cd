"""The chunk store: recorded audio, one file per station per UTC hour, laid out by date.

Layout (documented in README.md):

    {data_root}/chunks/{station}/{YYYY}/{MM}/{DD}/{YYYYMMDD}T{HHMMSS}[.{mmm}]Z.{ext}

The file name is the UTC start of the audio it holds, to the millisecond where it does not fall on a
whole second (the first file after a reconnection starts when the stream came back; a name rounded to
the second would misplace it by up to half a second, which the gap figures would inherit). A normal
hour is one file named `..T{HH}0000Z`.
After a recorder restart an hour can hold several parts (`..T{HH}2314Z` starts 23 min 14 s in); short
test segments give many. Readers assemble an hour from every part that starts inside it, trimming
overlaps (recorder rotation overlaps two runs on purpose) so that no second is counted twice.

Files only ever appear in the store by an atomic rename (`publish_chunk`), so a reader never sees a
file that is still being written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pige_pipeline.hours import HOUR, hour_start, utc

AUDIO_EXTENSIONS = frozenset({"mp3", "aac", "m4a", "ogg", "oga", "opus", "flac", "wav", "mp2", "ts"})
_CHUNK_NAME = re.compile(r"^(\d{8})T(\d{6})(?:\.(\d{3}))?Z\.([a-z0-9]+)$")


@dataclass(frozen=True, order=True)
class ChunkFile:
    """One audio file in the store."""

    start: datetime
    station: str
    path: Path


@dataclass(frozen=True)
class HourPart:
    """The part of a chunk file that belongs to one hour, after overlaps are trimmed."""

    path: Path
    start: datetime  # UTC start of the file's audio
    offset_s: float  # where the used audio starts, in seconds into the hour
    skip_s: float  # seconds to skip at the start of the file (overlap with the previous part)
    duration_s: float  # seconds of audio used from this file


def chunk_dir(data_root: Path, station: str, day: datetime) -> Path:
    day = utc(day)
    return data_root / "chunks" / station / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"


def round_to_millisecond(moment: datetime) -> datetime:
    """The precision of a chunk's name."""
    moment = utc(moment)
    return moment + timedelta(microseconds=round(moment.microsecond, -3) - moment.microsecond)


def chunk_path(data_root: Path, station: str, start: datetime, ext: str) -> Path:
    start = round_to_millisecond(start)
    millis = f".{start.microsecond // 1000:03d}" if start.microsecond else ""
    name = f"{start:%Y%m%dT%H%M%S}{millis}Z.{ext.lower().lstrip('.')}"
    return chunk_dir(data_root, station, start) / name


def parse_chunk_name(path: Path) -> datetime | None:
    match = _CHUNK_NAME.match(path.name)
    if not match or match.group(4) not in AUDIO_EXTENSIONS:
        return None
    began = datetime.strptime(match.group(1) + match.group(2), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return began + timedelta(milliseconds=int(match.group(3) or 0))


def stations_in_store(data_root: Path) -> list[str]:
    root = data_root / "chunks"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def list_chunks(
    data_root: Path,
    station: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[ChunkFile]:
    """Chunk files whose start lies in [start, end), sorted by start then station."""
    stations = [station] if station else stations_in_store(data_root)
    found: list[ChunkFile] = []
    for sid in stations:
        for day_dir in _day_dirs(data_root, sid, start, end):
            for path in day_dir.iterdir():
                began = parse_chunk_name(path)
                if began is None:
                    continue
                if (start and began < utc(start)) or (end and began >= utc(end)):
                    continue
                found.append(ChunkFile(start=began, station=sid, path=path))
    return sorted(found)


def _day_dirs(data_root: Path, station: str, start: datetime | None, end: datetime | None) -> Iterator[Path]:
    base = data_root / "chunks" / station
    if start is not None and end is not None:
        day = utc(start).replace(hour=0, minute=0, second=0, microsecond=0)
        while day < utc(end):
            path = chunk_dir(data_root, station, day)
            if path.is_dir():
                yield path
            day += timedelta(days=1)
        return
    if base.is_dir():
        yield from sorted(p for p in base.glob("*/*/*") if p.is_dir())


def hour_chunks(data_root: Path, station: str, hour: datetime) -> list[ChunkFile]:
    """Chunk files whose audio starts inside `hour`."""
    begin = hour_start(hour)
    return list_chunks(data_root, station, begin, begin + HOUR)


def assemble_hour(hour: datetime, files: Iterable[tuple[Path, datetime, float]]) -> list[HourPart]:
    """Lay (path, start, duration) files on the hour's time line, trimming overlaps and the hour's end.

    A part that starts before the previous one ends is skipped up to that end, so overlapping
    recordings (rotation) are counted once. Audio that runs past the end of the hour is cut off: it
    belongs to the next hour's file.
    """
    begin = hour_start(hour)
    parts: list[HourPart] = []
    covered_until = 0.0
    for path, start, duration in sorted(files, key=lambda f: f[1]):
        offset = (utc(start) - begin).total_seconds()
        end = min(offset + duration, HOUR.total_seconds())
        used_from = max(offset, covered_until)
        if end - used_from <= 0.01:
            continue
        parts.append(
            HourPart(
                path=path,
                start=utc(start),
                offset_s=used_from,
                skip_s=used_from - offset,
                duration_s=end - used_from,
            )
        )
        covered_until = end
    return parts


def publish_chunk(
    source: Path, data_root: Path, station: str, start: datetime, *, copy: bool = False
) -> Path:
    """Put a finished file into the store under its canonical name, atomically.

    The file is first placed next to its destination under a hidden temporary name, then renamed,
    so readers never see a partial file. An existing chunk is never overwritten.
    """
    dest = chunk_path(data_root, station, start, source.suffix or ".mp3")
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; not overwriting recorded audio")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    if copy:
        shutil.copy2(source, tmp)
    else:
        try:
            os.replace(source, tmp)
        except OSError:  # another filesystem: copy, then remove the original once safe
            shutil.copy2(source, tmp)
            source.unlink()
    os.replace(tmp, dest)
    return dest


def chunks_changed_since(data_root: Path, ctime_ns: int) -> list[tuple[ChunkFile, int]]:
    """Chunks whose inode changed (created or renamed into the store) after `ctime_ns`.

    ctime, not mtime: an imported archive file keeps its old mtime, but the rename that publishes it
    sets its ctime. Day directories whose own ctime is older than the cursor are not listed.
    """
    found: list[tuple[ChunkFile, int]] = []
    for station in stations_in_store(data_root):
        base = data_root / "chunks" / station
        for day_dir in base.glob("*/*/*"):
            try:
                if day_dir.stat().st_ctime_ns <= ctime_ns:
                    continue
            except OSError:
                continue
            for path in day_dir.iterdir():
                began = parse_chunk_name(path)
                if began is None:
                    continue
                try:
                    changed = path.stat().st_ctime_ns
                except OSError:
                    continue
                if changed > ctime_ns:
                    found.append((ChunkFile(start=began, station=station, path=path), changed))
    return sorted(found, key=lambda item: item[1])


def hour_chunks_digest(data_root: Path, hour: datetime, stations: Iterable[str]) -> str:
    """A content identity of the chunks the hour's processing reads, for `stations`.

    Names (which carry each file's start) and sizes, not times: a data root copied to another volume,
    or a new Dagster instance over the same root, gives the same digest, while a late or replaced chunk
    changes it. The recorder and the importer publish a chunk once, by rename, and never rewrite it in
    place, so a changed file also has a changed name or size.
    """
    digest = hashlib.sha256()
    for station in sorted(set(stations)):
        digest.update(f"{station}\n".encode())
        for chunk in hour_chunks(data_root, station, hour):
            try:
                size = chunk.path.stat().st_size
            except OSError:
                continue
            digest.update(f"{chunk.path.name}\t{size}\n".encode())
    return digest.hexdigest()[:32]
