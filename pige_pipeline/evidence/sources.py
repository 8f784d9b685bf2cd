"""Which chunk files hold a span of a station's time line, and the analytics columns that record it.

A chunk file is named by the UTC start of its audio (pige_pipeline/store/chunks.py); the file that holds an
instant is the last one that starts at or before it, and a file is taken to run until the next one
starts. Durations are not probed here (a year of plays would mean millions of ffprobe calls): a file
that stops early, before a recording gap, is found out when a clip is cut (`clip.py`).

`fill_sources` gives the rows of a stitched analytics table (`plays`, `dead_air_events`) that have
no source yet three columns: `source_files` (chunk paths relative to the data root, in time order,
joined by ";"; a file that retention deleted is named from its deletion log; "" when no chunk is
known), `source_start_s` (where the line starts in the first file) and `source_end_s` (where it ends in
the last). Rows are only filled once: an incremental rebuild keeps the source of the lines it does not
re-stitch, and a full rebuild after retention finds the same files in the deletion log.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from pige_pipeline.evidence.model import ChunkSpan
from pige_pipeline.hours import utc
from pige_pipeline.maintenance.retention import deleted_chunks
from pige_pipeline.store.chunks import AUDIO_EXTENSIONS

SOURCE_COLUMNS = (("source_files", "VARCHAR"), ("source_start_s", "DOUBLE"), ("source_end_s", "DOUBLE"))
SEPARATOR = ";"
# The store's file name: the UTC start of its audio (pige_pipeline/store/chunks.py).
_CHUNK_NAME = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{3}))?Z\.([a-z0-9]+)$")
# A line detected a few ms before its file's named start (encoder padding, rounding) is still in it.
START_TOLERANCE_S = 1.0


def station_chunks(data_root: Path, station: str, days: Iterable[date]) -> list[tuple[datetime, Path]]:
    """(start, path relative to the data root) of the station's chunk files on `days`, by start."""
    found: list[tuple[datetime, Path]] = []
    for began, relative in _chunk_names(data_root, station, days):
        found.append((began, Path(relative)))
    return found


def _chunk_names(data_root: Path, station: str, days: Iterable[date]) -> list[tuple[datetime, str]]:
    # Names only, parsed without pathlib or strptime: a full rebuild lists every station-day's files.
    found: list[tuple[datetime, str]] = []
    for day in sorted(set(days)):
        relative = f"chunks/{station}/{day:%Y}/{day:%m}/{day:%d}"
        try:
            names = os.listdir(data_root / relative)
        except OSError:
            continue
        for name in names:
            match = _CHUNK_NAME.match(name)
            if match is None or match.group(8) not in AUDIO_EXTENSIONS:
                continue
            millis = int(match.group(7) or 0)
            began = datetime(*(int(match.group(i)) for i in range(1, 7)), millis * 1000, tzinfo=UTC)  # type: ignore[misc]
            found.append((began, f"{relative}/{name}"))
    return sorted(found)


def days_around(start: datetime, end: datetime) -> list[date]:
    """The UTC days whose chunk directories can hold [start, end]: the day before the start too."""
    first = (utc(start) - timedelta(days=1)).date()
    last = utc(end).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def spans_for(chunks: list[tuple[datetime, Path]], start: datetime, end: datetime) -> list[ChunkSpan]:
    """The spans of `chunks` (sorted by start) that hold [start, end), in time order."""
    starts = [c[0] for c in chunks]
    first = bisect_right(starts, utc(start) + timedelta(seconds=START_TOLERANCE_S)) - 1
    if first < 0:
        first = 0
    spans: list[ChunkSpan] = []
    for index in range(first, len(chunks)):
        began, path = chunks[index]
        if began >= utc(end):
            break
        following = chunks[index + 1][0] if index + 1 < len(chunks) else None
        span_start = max(0.0, (utc(start) - began).total_seconds())
        span_end = (utc(end) - began).total_seconds()
        if following is not None and following < utc(end):
            span_end = (following - began).total_seconds()
        elif following is None and span_end <= span_start:
            continue
        spans.append(ChunkSpan(path=path, start_s=round(span_start, 3), end_s=round(span_end, 3)))
    return spans


def fill_sources(con: duckdb.DuckDBPyConnection, data_root: Path, table: str) -> int:
    """Record the chunk source of every row of `table` that has none yet; returns the rows filled."""
    for name, kind in SOURCE_COLUMNS:
        con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {kind}")
    pending = con.execute(
        f"""SELECT station, list(DISTINCT CAST(start AS DATE)), min(start), max("end")
            FROM {table} WHERE source_files IS NULL AND start IS NOT NULL GROUP BY station"""
    ).fetchall()
    if not pending:
        return 0
    stations, starts, paths = [], [], []
    deleted: dict[str, list[tuple[datetime, str]]] | None = None
    for station, start_days, _first, last in pending:
        days: set[date] = set()
        for day in start_days:
            midnight = datetime(day.year, day.month, day.day)
            days.update(days_around(midnight, midnight))
        days.add(utc(last).date())
        files = _chunk_names(data_root, station, days)
        if not {b.date() for b, _p in files} >= set(start_days):
            # Retention deleted some of these days' audio: the deletion log still names the files, so
            # a full rebuild records the same source as the rows had before (read only when needed).
            if deleted is None:
                deleted = deleted_chunks(data_root)
            present = {p for _b, p in files}
            files += [(b, p) for b, p in deleted.get(station, []) if b.date() in days and p not in present]
        for began, path in files:
            stations.append(station)
            starts.append(began)
            paths.append(path)
    con.register(
        "_chunk_files_arrow",
        pa.table(
            {
                "station": pa.array(stations, pa.string()),
                "start": pa.array(starts, pa.timestamp("us", tz="UTC")),
                "path": pa.array(paths, pa.string()),
            }
        ),
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _chunk_files AS SELECT station, start, path FROM _chunk_files_arrow"
    )
    con.unregister("_chunk_files_arrow")
    tolerance = f"INTERVAL {int(START_TOLERANCE_S * 1000)} MILLISECOND"
    # Most lines lie in one file: the file holding the start (last to begin before it) is the one
    # holding the end. Two as-of joins find both; only lines across files join the files between.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _line_files AS
        WITH pending AS (
            SELECT rowid AS rid, station, start, "end" FROM {table}
            WHERE source_files IS NULL AND start IS NOT NULL
        ), first_file AS (
            SELECT p.*, f.start AS first_start, f.path AS first_path
            FROM pending p ASOF LEFT JOIN _chunk_files f
                ON f.station = p.station AND p.start + {tolerance} >= f.start
        )
        SELECT x.*, l.start AS last_start
        FROM first_file x ASOF LEFT JOIN _chunk_files l ON l.station = x.station AND x."end" > l.start
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _line_sources AS
        SELECT rid, first_path AS source_files,
               greatest(0, epoch(start) - epoch(first_start)) AS source_start_s,
               epoch("end") - epoch(first_start) AS source_end_s
        FROM _line_files WHERE first_start IS NOT NULL AND first_start = last_start
        UNION ALL
        SELECT x.rid, string_agg(f.path, '{SEPARATOR}' ORDER BY f.start),
               greatest(0, epoch(min(x.start)) - epoch(min(f.start))),
               epoch(max(x."end")) - epoch(max(f.start))
        FROM _line_files x JOIN _chunk_files f
            ON f.station = x.station AND f.start >= coalesce(x.first_start, x.start) AND f.start < x."end"
        WHERE last_start IS NOT NULL AND (first_start IS NULL OR first_start < last_start)
        GROUP BY x.rid
        """
    )
    # Every pending row gets a value ("" when no chunk holds it), so it is not looked at again.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _line_values AS
        SELECT p.rid, coalesce(f.source_files, '') AS source_files,
               round(f.source_start_s, 3) AS source_start_s, round(f.source_end_s, 3) AS source_end_s
        FROM _line_files p LEFT JOIN _line_sources f USING (rid)
        """
    )
    filled = con.execute(
        f"""
        UPDATE {table} SET source_files = s.source_files, source_start_s = s.source_start_s,
                           source_end_s = s.source_end_s
        FROM _line_values s WHERE {table}.rowid = s.rid
        """
    ).fetchone()[0]
    con.execute("DROP TABLE _line_files; DROP TABLE _line_sources; DROP TABLE _line_values")
    con.execute("DROP TABLE _chunk_files")
    return int(filled)


def recorded_spans(source_files: str | None, start_s: float | None, end_s: float | None) -> list[ChunkSpan]:
    """The spans stored in a row's source columns (the inverse of `fill_sources`)."""
    if not source_files:
        return []
    paths = [Path(p) for p in source_files.split(SEPARATOR)]
    spans = []
    for index, path in enumerate(paths):
        first, last = index == 0, index == len(paths) - 1
        begin = float(start_s or 0.0) if first else 0.0
        spans.append(ChunkSpan(path=path, start_s=begin, end_s=end_s if last else None))
    return spans
