"""Analytics at scale: full rebuild against incremental rebuild after a few new hours.

Synthetic stations (~15 plays per station-hour) are written straight into the compacted layout, in
chunks of days so that long histories fit in memory; the last `--tail-days` days are a separate chunk
whose newest hours can be held back. For each number of new hours N the tail is first written without
its last N hours and rebuilt incrementally (not timed), then written whole and rebuilt incrementally
(timed): the database is patched for those hours only. The full rebuild (`rebuild(full=True)`) is
timed on the same data, and the incremental result is compared with it table by table (EXCEPT ALL
both ways, floats to 1e-6). Compaction of the hourly tree is not included (`compact=False`, as in
benchmarks/analytics_year.py); `--stat-tree` times its history-wide part: one stat per station-day
directory, on a tree of empty directories, and `--hourly-day` its per-hour part: the day of a new hour
recompacted from that day's hourly files, for every station.

    .venv/bin/python -m benchmarks.analytics_scale --stations 50 --days 365 --repeats 3
    .venv/bin/python -m benchmarks.analytics_scale --stations 500 --days 7 --new-hours 1,24
    .venv/bin/python -m benchmarks.analytics_scale --stat-tree 500x1095 --hourly-day 500 --stations 0
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import resource
import shutil
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from pige_pipeline.analytics import rebuild
from pige_pipeline.analytics.build import RebuildResult, db_path
from pige_pipeline.analytics.compaction import (
    compact_asset,
    compacted_day_path,
    hourly_assets,
    processed_day_path,
)
from pige_pipeline.store.gaps import Gap, append_gap
from pige_pipeline.testing.synthetic_year import (
    SyntheticData,
    generate,
    settings_for,
    write_compacted,
    write_hourly,
)

START = datetime(2025, 1, 1, tzinfo=UTC)
COMPARED = ("plays", "play_links", "silence_events", "dead_air_events", "gaps", "stations", "catalogue")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _timed(fn: Callable[[], RebuildResult]) -> tuple[float, float, RebuildResult]:
    t, c = time.perf_counter(), _cpu_s()
    result = fn()
    return time.perf_counter() - t, _cpu_s() - c, result


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _chunk(stations: list[str], start: datetime, hours: int, seed: int) -> SyntheticData:
    return generate(stations, start, hours, seed=seed, with_speech=False, with_fingerprints=False)


def _between(data: SyntheticData, low: datetime, high: datetime) -> SyntheticData:
    """The hours of `data` in [low, high) (no gaps: they are logged once, at generation)."""
    lo, hi = pd.Timestamp(low), pd.Timestamp(high)
    return dataclasses.replace(
        data,
        tables={name: f[(f["hour"] >= lo) & (f["hour"] < hi)] for name, f in data.tables.items()},
        station_hours=data.station_hours[
            (data.station_hours["hour"] >= lo) & (data.station_hours["hour"] < hi)
        ],
        gaps=[],
    )


def _publish(
    root: Path, tail: SyntheticData, since: datetime, cutoff: datetime, catalogue: pd.DataFrame
) -> None:
    """Publish the tail's days from `since`'s day on, up to `cutoff`, as compaction would: whole day
    files replaced, or removed where the day has no hour yet. Earlier days are left untouched."""
    first = datetime.combine(since.date(), datetime.min.time(), UTC)
    day = first
    while day < tail.start + timedelta(hours=tail.hours):  # the last chunk's end is the history's
        if day >= cutoff:
            for asset in tail.tables:
                compacted_day_path(root, asset, day.date()).unlink(missing_ok=True)
                processed_day_path(root, asset, day.date()).unlink(missing_ok=True)
        day += timedelta(days=1)
    write_compacted(root, _between(tail, first, cutoff))
    # write_compacted also writes the tail's own catalogue: put the history's back (same content as
    # the last build, so no track counts as changed).
    catalogue.to_csv(root / "catalogue" / "catalogue.csv", index=False)


def _compare(a: Path, b: Path, memory_limit: str | None) -> dict[str, int]:
    """Rows that differ between two analytics databases, per table (EXCEPT ALL both ways)."""
    con = duckdb.connect(config={"memory_limit": memory_limit} if memory_limit else {})
    con.execute(f"SET temp_directory = '{a.parent / 'compare.tmp'}'")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    differ: dict[str, int] = {}
    for table in COMPARED:
        columns = con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = 'a' AND table_name = ?",
            [table],
        ).fetchall()
        select = ", ".join(
            f'round("{name}", 6)' if kind in ("DOUBLE", "FLOAT") else f'"{name}"' for name, kind in columns
        )
        differ[table] = con.execute(
            f"""
            SELECT count(*) FROM (
                (SELECT {select} FROM a.{table} EXCEPT ALL SELECT {select} FROM b.{table})
                UNION ALL
                (SELECT {select} FROM b.{table} EXCEPT ALL SELECT {select} FROM a.{table})
            )
            """
        ).fetchone()[0]
    con.close()
    return differ


def _stat_tree(spec: str, out: Path) -> None:
    """Compaction's history-wide part: stat every station-day directory of one asset, nothing changed."""
    stations, days = (int(x) for x in spec.split("x"))
    root = out / "stat-tree"
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    for s in range(stations):
        for d in range(days):
            day = START + timedelta(days=d)
            (root / "parquet" / "silences" / f"station-{s:03d}" / f"{day:%Y/%m/%d}").mkdir(parents=True)
    made_s = time.perf_counter() - t
    compact_asset(root, "silences")  # first pass: every day is new
    times = []
    for _ in range(3):
        t = time.perf_counter()
        result = compact_asset(root, "silences")
        times.append(time.perf_counter() - t)
    assert result.days_rewritten == 0
    median = statistics.median(times)
    print(f"compaction, nothing changed, one asset of {stations} stations x {days} days "
          f"({stations * days:,} day directories, made in {made_s:.0f} s): median {median:.2f} s "
          f"= {median / (stations * days) * 1e6:.1f} us per directory; {_load()}")  # fmt: skip
    shutil.rmtree(root, ignore_errors=True)


def _hourly_day(stations_n: int, out: Path) -> None:
    """Compaction's per-hour part: the newest hour of every station arrives, its day is recompacted."""
    root = out / "hourly-day"
    shutil.rmtree(root, ignore_errors=True)
    stations = [f"station-{i:03d}" for i in range(stations_n)]
    data = _chunk(stations, START, 24, seed=5)
    last = START + timedelta(hours=23)
    t = time.perf_counter()
    files = write_hourly(root, _between(data, START, last))
    print(f"hourly layout: {files:,} files for {stations_n} stations x 23 hours x {len(data.tables)} assets "
          f"in {time.perf_counter() - t:.0f} s")  # fmt: skip
    for asset in hourly_assets(root):
        compact_asset(root, asset)
    write_hourly(root, _between(data, last, last + timedelta(hours=1)))
    t, c = time.perf_counter(), _cpu_s()
    results = [compact_asset(root, asset) for asset in hourly_assets(root)]
    wall, cpu = time.perf_counter() - t, _cpu_s() - c
    read = sum(r.files_read for r in results)
    print(f"compaction of one new hour, {stations_n} stations, {len(results)} assets: {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU, {sum(r.days_rewritten for r in results)} day files rewritten from {read:,} "
          f"hourly files ({wall / read * 1000:.2f} ms per file); {_load()}")  # fmt: skip
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--days", type=int, default=365, help="days of history, the tail included")
    parser.add_argument("--tail-days", type=int, default=2)
    parser.add_argument("--chunk-days", type=int, default=30, help="days generated at a time")
    parser.add_argument("--new-hours", default="1,6,24", help="comma-separated numbers of new hours")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stat-tree", default="", help="STATIONSxDAYS: also time compaction's stat pass")
    parser.add_argument("--hourly-day", type=int, default=0, help="STATIONS: also time one hour's compaction")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pige-bench-analytics-scale"))
    parser.add_argument(
        "--reuse", action="store_true", help="keep the data root of a previous run (same args)"
    )
    parser.add_argument(
        "--memory-limit", default=None, help="DuckDB memory limit for the rebuilds, e.g. 10GB"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(_load())
    if args.stat_tree:
        _stat_tree(args.stat_tree, args.out)
    if args.hourly_day:
        _hourly_day(args.hourly_day, args.out)
    if not args.stations:
        return
    root = args.out / "data"
    reuse = args.reuse and (root / "catalogue" / "catalogue.csv").exists()
    if not reuse:
        shutil.rmtree(root, ignore_errors=True)
    stations = [f"station-{i:03d}" for i in range(args.stations)]
    t = time.perf_counter()
    plays = pieces = 0
    catalogue: pd.DataFrame | None = None
    tail_start = START + timedelta(days=args.days - args.tail_days)
    end = START + timedelta(days=args.days)
    chunk_starts = list(range(0, args.days, args.chunk_days))
    if len(chunk_starts) > 1 and args.days - chunk_starts[-1] <= args.tail_days:
        chunk_starts.pop()  # the last chunk must hold the tail and a day before it: merge it
    for n, first_day in enumerate(chunk_starts):
        last_chunk = n == len(chunk_starts) - 1
        days = args.days - first_day if last_chunk else args.chunk_days
        chunk_start = START + timedelta(days=first_day)
        if reuse and not last_chunk:
            continue  # the same seeds give the same chunks: only the tail is needed again
        data = _chunk(stations, chunk_start, days * 24, seed=100 + n)
        catalogue = data.catalogue if catalogue is None else catalogue
        plays += len(data.plays)
        pieces += len(data.tables["airplay_events"])
        if not last_chunk:
            write_compacted(root, data)
            continue
        # The last chunk holds the tail: its history part is written now, the tail hour by hour later
        # (generated together, so plays run across the midnights in between as everywhere else).
        assert chunk_start <= tail_start, "--tail-days must fit in the last chunk"
        # Only the tail is kept: a chunk of 500 stations is gigabytes the rebuilds would compete with.
        tail = _between(data, tail_start, end)
        if not reuse:
            write_compacted(root, _between(data, chunk_start, tail_start))
            for gap in data.gaps:
                append_gap(root, gap)
        del data
    if reuse:
        catalogue = pd.read_csv(root / "catalogue" / "catalogue.csv", dtype=str, keep_default_na=False)
    assert catalogue is not None
    _publish(root, tail, tail_start, end, catalogue)
    gc.collect()
    made = "reused (tail regenerated)" if reuse else f"generated {plays:,} plays ({pieces:,} hourly pieces)"
    print(f"{args.stations} stations x {args.days} days: {made} in {time.perf_counter() - t:.0f} s; "
          f"compacted tree {_size_mb(root / 'parquet_compacted'):.0f} MB")  # fmt: skip
    settings = settings_for(root)
    now = end + timedelta(minutes=5)

    full_runs = []
    for i in range(args.repeats):
        before = _load()
        wall, cpu, result = _timed(
            lambda: rebuild(settings, compact=False, full=True, now=now, memory_limit=args.memory_limit)
        )
        full_runs.append((wall, cpu, result))
        print(f"  full {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU ({before})")
    full_wall = statistics.median(r[0] for r in full_runs)
    full_cpu = statistics.median(r[1] for r in full_runs)
    full_size = _size_mb(db_path(root))
    print(f"full rebuild: median {full_wall:.2f} s wall, {full_cpu:.2f} s CPU over {args.repeats}; "
          f"database {full_size:.0f} MB; tables {full_runs[-1][2].tables}")  # fmt: skip
    print(
        "  steps of the last full run: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in full_runs[-1][2].phases.items())
    )

    nothing = [
        _timed(lambda: rebuild(settings, compact=False, now=now, memory_limit=args.memory_limit))
        for _ in range(args.repeats)
    ]
    assert all(r[2].mode == "incremental" and r[2].days_restitched == 0 for r in nothing)
    print(f"incremental, nothing new: median {statistics.median(r[0] for r in nothing):.2f} s wall, "
          f"{statistics.median(r[1] for r in nothing):.2f} s CPU; steps of the last: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in nothing[-1][2].phases.items()))  # fmt: skip

    builds = 0
    for new_hours in (int(x) for x in args.new_hours.split(",")):
        runs = []
        for i in range(args.repeats):
            since = end - timedelta(hours=new_hours)
            _publish(root, tail, since, since, catalogue)
            held = rebuild(settings, compact=False, now=now, memory_limit=args.memory_limit)
            # The hours arrive, with a gap logged in the newest one.
            _publish(root, tail, since, end, catalogue)
            gap_start = end - timedelta(minutes=30)
            append_gap(
                root, Gap(stations[0], gap_start, gap_start + timedelta(seconds=10), cause="stream_down")
            )
            before = _load()
            wall, cpu, result = _timed(
                lambda: rebuild(settings, compact=False, now=now, memory_limit=args.memory_limit)
            )
            builds += 2
            assert held.mode == result.mode == "incremental", (held.reason, result.reason)
            runs.append((wall, cpu, result))
            plays_refresh = result.refreshes["plays"]
            print(f"  +{new_hours} h, run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU; plays re-stitched "
                  f"on {plays_refresh.days_restitched} of {plays_refresh.days} days "
                  f"({len(plays_refresh.extended)} keys further), {plays_refresh.pieces:,} pieces "
                  f"({before})")  # fmt: skip
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        last = runs[-1][2]
        print(f"incremental after {new_hours} new hour(s): median {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"(full / incremental = {full_wall / wall:.1f}x); steps of the last: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in last.phases.items()))  # fmt: skip

    size = _size_mb(db_path(root))
    print(f"database after {builds + args.repeats} incremental builds: {size:.0f} MB "
          f"(fresh full build: {full_size:.0f} MB)")  # fmt: skip
    patched = args.out / "incremental.duckdb"
    shutil.copyfile(db_path(root), patched)
    rebuild(settings, compact=False, full=True, now=now, memory_limit=args.memory_limit)
    differ = _compare(patched, db_path(root), args.memory_limit)
    print(f"incremental vs full, rows that differ: {differ}")
    patched.unlink()


if __name__ == "__main__":
    main()
