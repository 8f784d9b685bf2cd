"""Daily compaction of the hourly Parquet trees, rebuilt incrementally.

The hourly layout (`parquet/{asset}/{station}/{YYYY}/{MM}/{DD}/{HH}.parquet`) gives 438,000 files per
asset for 50 stations and a year; DuckDB opens every file's footer on each scan (~0.15 ms a file on
2 cores), so a full scan of one asset costs about a minute. The analytics rebuild therefore reads a
compacted copy with one file per asset and UTC day, all stations together:

    {data_root}/parquet_compacted/{asset}/{YYYY}/{MM}/{DD}.parquet          the day's rows
    {data_root}/parquet_compacted/_processed/{asset}/{YYYY}/{MM}/{DD}.parquet   one row per hourly file
    {data_root}/parquet_compacted/_state/{asset}.json                       signatures of compacted days

The hourly tree stays the system of record. A day is recompacted only when its signature changes: the
modification times of its station day-directories. Every hourly file is published by a rename inside
its day directory, which updates that directory's mtime, so a new, rewritten or deleted hour is seen by
statting one directory per station and day (18,250 stats per asset-year) instead of every file.
A file changed in place, without a rename, is not seen: `rebuild(full=True)` recompacts everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

COMPACTED_DIR = "parquet_compacted"
_HOUR_FILE = re.compile(r"^(\d{2})\.parquet$")


@dataclass
class CompactionResult:
    """What one asset's compaction did, and the files it had to leave out (with why)."""

    asset: str
    days: int = 0
    days_rewritten: int = 0
    days_removed: int = 0
    files_read: int = 0
    seconds: float = 0.0
    problems: list[dict[str, str]] = field(default_factory=list)


def compacted_root(data_root: Path) -> Path:
    return data_root / COMPACTED_DIR


def compacted_day_path(data_root: Path, asset: str, day: date) -> Path:
    return compacted_root(data_root) / asset / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}.parquet"


def processed_day_path(data_root: Path, asset: str, day: date) -> Path:
    return compacted_root(data_root) / "_processed" / asset / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}.parquet"


def _state_path(data_root: Path, asset: str) -> Path:
    return compacted_root(data_root) / "_state" / f"{asset}.json"


def hourly_assets(data_root: Path) -> list[str]:
    """Assets that have an hourly tree under `parquet/` (manifests and hidden folders excluded)."""
    root = data_root / "parquet"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def _subdirs(path: str, width: int) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return [e for e in entries if e.is_dir() and len(e.name) == width and e.name.isdigit()]
    except FileNotFoundError:
        return []


def _day_dirs(asset_root: Path) -> dict[date, list[tuple[str, str, int]]]:
    """{day: [(station, day_dir, mtime_ns)]} from one stat per station-day directory.

    Paths stay strings: 500 stations x 3 years is 547,500 directories per asset, and building a
    `Path` for each cost more than the stat itself.
    """
    days: dict[date, list[tuple[str, str, int]]] = defaultdict(list)
    try:
        with os.scandir(asset_root) as entries:
            stations = [e for e in entries if e.is_dir() and not e.name.startswith((".", "_"))]
    except FileNotFoundError:
        return {}
    for station in stations:
        for year in _subdirs(station.path, 4):
            for month in _subdirs(year.path, 2):
                for day in _subdirs(month.path, 2):
                    try:
                        the_day = date(int(year.name), int(month.name), int(day.name))
                    except ValueError:
                        continue
                    days[the_day].append((station.name, day.path, day.stat().st_mtime_ns))
    return days


def _signature(entries: list[tuple[str, str, int]]) -> str:
    text = "|".join(f"{station}:{mtime}" for station, _path, mtime in sorted(entries))
    return hashlib.sha1(text.encode()).hexdigest()


def _load_state(path: Path) -> dict[str, dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_atomic_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _compact_day(
    con: duckdb.DuckDBPyConnection,
    data_root: Path,
    asset: str,
    day: date,
    entries: list[tuple[str, str, int]],
) -> tuple[int, list[dict[str, str]]]:
    """Rewrite one day's compacted file; returns (files read, problems)."""
    problems: list[dict[str, str]] = []
    good: list[str] = []
    index: list[dict[str, object]] = []
    for station, day_dir, _mtime in sorted(entries):
        try:
            names = sorted(n for n in os.listdir(day_dir) if _HOUR_FILE.match(n))
        except FileNotFoundError:
            continue
        for name in names:
            path = Path(day_dir) / name
            hour = datetime(day.year, day.month, day.day, int(name[:2]), tzinfo=UTC)
            try:
                meta = pq.read_metadata(path)
            except Exception as exc:  # a corrupt file must not hide the rest of the day
                problems.append(
                    {
                        "asset": asset,
                        "station": station,
                        "hour": hour.isoformat(),
                        "problem": f"{path}: unreadable Parquet ({exc}); re-run this hour's "
                        f"`{asset}` partition to rewrite it",
                    }
                )
                continue
            good.append(str(path))
            index.append({"station": station, "hour": hour, "rows": meta.num_rows, "path": str(path)})
    target = compacted_day_path(data_root, asset, day)
    processed = processed_day_path(data_root, asset, day)
    if not good:
        _remove(target)
        _remove(processed)
        return 0, problems
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        con.execute(
            f"COPY (SELECT * FROM read_parquet($files, union_by_name = true, hive_partitioning = false)) "
            f"TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)",
            {"files": good},
        )
    except duckdb.Error as exc:
        _remove(tmp)
        problems.append(
            {
                "asset": asset,
                "station": "",
                "hour": day.isoformat(),
                "problem": f"{asset} for {day}: the day's hourly files cannot be combined ({exc}); "
                "check that every station writes the same column types",
            }
        )
        return 0, problems
    os.replace(tmp, target)
    processed.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(
        index,
        schema=pa.schema(
            [
                ("station", pa.string()),
                ("hour", pa.timestamp("us", tz="UTC")),
                ("rows", pa.int64()),
                ("path", pa.string()),
            ]
        ),
    ).append_column("asset", pa.array([asset] * len(index), pa.string()))
    ptmp = processed.with_name(f".{processed.name}.{os.getpid()}.tmp")
    pq.write_table(table, ptmp)
    os.replace(ptmp, processed)
    return len(good), problems


def compact_asset(data_root: Path, asset: str, threads: int = 2, full: bool = False) -> CompactionResult:
    """Bring `parquet_compacted/{asset}` up to date with the hourly tree; only changed days are rewritten.

    A file edited in place (not renamed into its directory, which no pige writer does) keeps its
    directory's mtime: `full=True` recompacts every day regardless of signatures.
    """
    started = time.monotonic()
    result = CompactionResult(asset=asset)
    state_file = _state_path(data_root, asset)
    state = _load_state(state_file)
    days = _day_dirs(data_root / "parquet" / asset)
    result.days = len(days)
    con = duckdb.connect(config={"threads": threads})
    try:
        new_state: dict[str, dict] = {}
        for day, entries in sorted(days.items()):
            key = day.isoformat()
            signature = _signature(entries)
            previous = state.get(key)
            if (
                not full
                and previous
                and previous.get("signature") == signature
                and (compacted_day_path(data_root, asset, day).exists() or previous.get("files", 0) == 0)
            ):
                new_state[key] = previous
                result.problems.extend(previous.get("problems", []))
                continue
            files, problems = _compact_day(con, data_root, asset, day, entries)
            result.files_read += files
            result.days_rewritten += 1
            result.problems.extend(problems)
            new_state[key] = {"signature": signature, "files": files, "problems": problems}
        for key in set(state) - set(new_state):
            gone = date.fromisoformat(key)
            _remove(compacted_day_path(data_root, asset, gone))
            _remove(processed_day_path(data_root, asset, gone))
            result.days_removed += 1
        _write_atomic_json(state_file, new_state)
    finally:
        con.close()
    result.seconds = time.monotonic() - started
    return result


def compacted_glob(data_root: Path, asset: str) -> str | None:
    """The glob DuckDB should read for a compacted asset, or None if it has no file yet."""
    root = compacted_root(data_root) / asset
    if not root.is_dir() or next(root.glob("*/*/*.parquet"), None) is None:
        return None
    return str(root.resolve() / "*" / "*" / "*.parquet")
