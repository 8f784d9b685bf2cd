"""The `gaps` table from the recorder's gap logs, re-reading only the log files that changed.

The logs are one JSON-lines file per station and UTC day (`recorder/gaps/{station}/{day}.jsonl`):
500 stations x 3 years is ~550,000 files. Every parsed line is kept in the database (`_gap_lines`)
with its file's size and modification time (`_gap_files`), so a build stats the files and parses
only those that changed (appended to, new, or removed). The `gaps` table is then derived in SQL:
for each (station, start) the last record wins, in file order then line order, as a whole read does.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pige_pipeline.store.gaps import Gap

TS = pa.timestamp("us", tz="UTC")
_LINES_SCHEMA = pa.schema(
    [
        ("dir", pa.string()),
        ("name", pa.string()),
        ("line", pa.int64()),
        ("station", pa.string()),
        ("start", TS),
        ("end", TS),
        ("cause", pa.string()),
        ("detail", pa.string()),
    ]
)
_PROBLEMS_SCHEMA = pa.schema(
    [
        ("dir", pa.string()),
        ("name", pa.string()),
        ("line", pa.int64()),
        ("station", pa.string()),
        ("problem", pa.string()),
    ]
)
_FILES_SCHEMA = pa.schema(
    [("dir", pa.string()), ("name", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64())]
)


def _log_files(root: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """{(station dir, file name): (size, mtime_ns)} for `root/*/*.jsonl`."""
    files: dict[tuple[str, str], tuple[int, int]] = {}
    if not root.is_dir():
        return files
    for station in os.scandir(root):
        if not station.is_dir():
            continue
        for entry in os.scandir(station.path):
            if entry.name.endswith(".jsonl") and entry.is_file():
                stat = entry.stat()
                files[(station.name, entry.name)] = (stat.st_size, stat.st_mtime_ns)
    return files


def _parse(root: Path, files: list[tuple[str, str]]) -> tuple[pa.Table, pa.Table]:
    lines: list[dict[str, object]] = []
    problems: list[dict[str, object]] = []
    for directory, name in files:
        path = root / directory / name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:  # removed since it was listed: the next build drops it
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                gap = Gap.from_json(line)
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(
                    {
                        "dir": directory,
                        "name": name,
                        "line": number,
                        "station": directory,
                        "problem": f"{path}:{number}: not a gap record ({exc}); the line is skipped",
                    }
                )
                continue
            lines.append(
                {
                    "dir": directory,
                    "name": name,
                    "line": number,
                    "station": gap.station,
                    "start": gap.start,
                    "end": gap.end,
                    "cause": gap.cause,
                    "detail": gap.detail,
                }
            )
    return (
        pa.Table.from_pylist(lines, schema=_LINES_SCHEMA),
        pa.Table.from_pylist(problems, schema=_PROBLEMS_SCHEMA),
    )


def _create_empty(con: duckdb.DuckDBPyConnection) -> None:
    for table, schema in (
        ("_gap_files", _FILES_SCHEMA),
        ("_gap_lines", _LINES_SCHEMA),
        ("_gap_problems", _PROBLEMS_SCHEMA),
    ):
        con.register("_empty_arrow", schema.empty_table())
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _empty_arrow")
        con.unregister("_empty_arrow")


def refresh_gaps(
    con: duckdb.DuckDBPyConnection, data_root: Path, now: datetime, incremental: bool
) -> tuple[int, list[dict[str, str]]]:
    """(Re)create `gaps`; returns (log files parsed, problems). `incremental` keeps unchanged files' lines."""
    root = data_root / "recorder" / "gaps"
    listed = _log_files(root)
    if not incremental:
        _create_empty(con)
    known = {
        (d, n): (size, mtime)
        for d, n, size, mtime in con.execute("SELECT dir, name, size, mtime_ns FROM _gap_files").fetchall()
    }
    stale = sorted(k for k in known if listed.get(k) != known[k])
    fresh = sorted(k for k in listed if known.get(k) != listed[k])
    if stale:
        con.register("_stale", pa.table({"dir": [d for d, _ in stale], "name": [n for _, n in stale]}))
        for table in ("_gap_files", "_gap_lines", "_gap_problems"):
            con.execute(f"DELETE FROM {table} t USING _stale s WHERE t.dir = s.dir AND t.name = s.name")
        con.unregister("_stale")
    if fresh:
        lines, problems = _parse(root, fresh)
        con.register("_lines", lines)
        con.register("_problems_arrow", problems)
        con.register(
            "_files",
            pa.table(
                {
                    "dir": [d for d, _ in fresh],
                    "name": [n for _, n in fresh],
                    "size": pa.array([listed[k][0] for k in fresh], pa.int64()),
                    "mtime_ns": pa.array([listed[k][1] for k in fresh], pa.int64()),
                }
            ),
        )
        con.execute("INSERT INTO _gap_lines SELECT * FROM _lines")
        con.execute("INSERT INTO _gap_problems SELECT * FROM _problems_arrow")
        con.execute("INSERT INTO _gap_files SELECT * FROM _files")
        for name in ("_lines", "_problems_arrow", "_files"):
            con.unregister(name)
    # The last record of each gap wins (an open gap is logged again when it closes), in the order a
    # whole read of the sorted files would meet them.
    now_sql = f"CAST('{now.isoformat()}' AS TIMESTAMPTZ)"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE gaps AS
        SELECT station, start, "end", "end" IS NULL AS open,
               coalesce("end", {now_sql}) AS end_or_now,
               epoch(coalesce("end", {now_sql}) - start) AS duration_s,
               cause, detail
        FROM _gap_lines
        QUALIFY row_number() OVER (PARTITION BY station, start ORDER BY dir DESC, name DESC, line DESC) = 1
        ORDER BY station, start
        """
    )
    problems = [
        {"asset": "gaps", "station": station, "hour": "", "problem": problem}
        for station, problem in con.execute(
            "SELECT station, problem FROM _gap_problems ORDER BY dir, name, line"
        ).fetchall()
    ]
    return len(fresh), problems
