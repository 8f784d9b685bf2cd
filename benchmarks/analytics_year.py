"""Analytics benchmark: a synthetic year for 50 stations (~15 plays per station-hour).

Measures the monthly airplay statement query, the full analytics rebuild (wall and CPU seconds, per
step), and the cost of the hourly Parquet layout that compaction avoids (on a sample of days,
extrapolated to the year and labelled so). The machine's load average is printed beside each timing.

    .venv/bin/python -m benchmarks.analytics_year [--stations 50] [--days 365] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from pige_pipeline.analytics import connect, rebuild
from pige_pipeline.analytics.compaction import compact_asset
from pige_pipeline.analytics.schemas import ASSET_SCHEMAS
from pige_pipeline.reports import airplay
from pige_pipeline.reports.periods import Period
from pige_pipeline.store.parquet import write_asset_hour
from pige_pipeline.testing.synthetic_year import generate, settings_for, write_compacted

START = datetime(2025, 1, 1, tzinfo=UTC)


def _timed(fn, repeats: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def _cpu_s() -> float:
    """CPU seconds of this process, DuckDB's threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hourly-days", type=int, default=2, help="days written in the hourly layout")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pige-bench-analytics"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    year_root, hourly_root = args.out / "year", args.out / "hourly"
    stations = [f"station-{i:02d}" for i in range(args.stations)]
    hours = args.days * 24

    print(_load())
    t = time.perf_counter()
    data = generate(stations, START, hours, seed=1, with_speech=False, with_fingerprints=False)
    gen_s = time.perf_counter() - t
    pieces = len(data.tables["airplay_events"])
    rate = len(data.plays) / (len(stations) * hours)
    print(f"generated {len(data.plays):,} plays ({pieces:,} hourly pieces) for {len(stations)} stations x "
          f"{hours:,} hours in {gen_s:.1f} s; {rate:.1f} plays per station-hour")  # fmt: skip
    t = time.perf_counter()
    files = write_compacted(year_root, data)
    print(f"wrote {files} compacted day files in {time.perf_counter() - t:.1f} s")

    settings = settings_for(year_root)
    walls, cpus, runs = [], [], []
    for i in range(args.repeats):
        before = _load()
        t, c = time.perf_counter(), _cpu_s()
        runs.append(rebuild(settings, compact=False, full=True))  # every run from nothing
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu_s() - c)
        print(f"  rebuild {i + 1}: {walls[-1]:.2f} s wall, {cpus[-1]:.2f} s CPU ({before} before)")
    rebuild_s = statistics.median(walls)
    result = runs[walls.index(sorted(walls)[(len(walls) - 1) // 2])]
    print(f"full analytics rebuild (compacted tree up to date, `full=True`): median {rebuild_s:.2f} s wall, "
          f"{statistics.median(cpus):.2f} s CPU over {args.repeats}; tables {result.tables}")  # fmt: skip
    print("  steps of the median run: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.phases.items()))
    glob = str(year_root / "parquet_compacted" / "airplay_events" / "*" / "*" / "*.parquet")
    floor_s, _ = _timed(
        lambda: duckdb.sql(
            f"SELECT count(*), sum(duration_s), count(DISTINCT track_id) FROM read_parquet('{glob}')"
        ).fetchall(),
        args.repeats,
    )
    print(f"floor: one DuckDB scan of the year's airplay_events: median {floor_s:.2f} s "
          f"(rebuild / scan = {rebuild_s / floor_s:.1f}x)")  # fmt: skip

    months = sorted({f"{d:%Y-%m}" for d in (START + timedelta(days=i) for i in range(args.days))})
    with connect(year_root) as con:
        month_times = []
        for month in months:
            t = time.perf_counter()
            st = airplay.statement(con, Period.month(month))
            month_times.append(time.perf_counter() - t)
        full_scan_s, _ = _timed(
            lambda: con.execute("SELECT count(*), sum(seconds) FROM plays").fetchall(), args.repeats
        )
        rows = len(st.by_station)
        # The rebuilt tables must still give the statement that reconciles with airplay_events.
        t = time.perf_counter()
        mismatches = len(airplay.reconcile(con, Period.month(months[-1])))
        reconcile_s = time.perf_counter() - t
    print(f"monthly airplay statement (per station + per rights holder, {len(stations)} stations): "
          f"median {statistics.median(month_times):.3f} s, max {max(month_times):.3f} s over "
          f"{len(months)} months; {rows:,} station-track rows for {months[-1]}; "
          f"full scan of `plays`: {full_scan_s:.3f} s")  # fmt: skip
    print(f"reconciliation of {months[-1]} with airplay_events: {mismatches} station-track rows differ "
          f"({reconcile_s:.1f} s); {_load()}")  # fmt: skip

    # The hourly layout, on a sample of days, as the hourly assets write it.
    sample = generate(
        stations, START, args.hourly_days * 24, seed=2, with_speech=False, with_fingerprints=False
    )
    frame = sample.tables["airplay_events"]
    schema = ASSET_SCHEMAS["airplay_events"]
    recorded = sample.station_hours[sample.station_hours["status"] != "missing"]
    groups = frame.groupby(["station", "hour"], sort=False).indices
    table = pa.Table.from_pandas(frame[[f.name for f in schema]], schema=schema, preserve_index=False)
    t = time.perf_counter()
    n_files = 0
    for station, hour in zip(recorded["station"], recorded["hour"], strict=True):
        rows_idx = groups.get((station, hour))
        part = table.take(pa.array(rows_idx)) if rows_idx is not None else schema.empty_table()
        write_asset_hour(hourly_root, "airplay_events", station, hour.to_pydatetime(), part, schema)
        n_files += 1
    write_s = time.perf_counter() - t
    hourly_glob = str(hourly_root / "parquet" / "airplay_events" / "*" / "*" / "*" / "*" / "*.parquet")
    scan_hourly_s, _ = _timed(
        lambda: duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{hourly_glob}', union_by_name = true)"
        ).fetchall(),
        args.repeats,
    )
    t = time.perf_counter()
    first = compact_asset(hourly_root, "airplay_events")
    first_s = time.perf_counter() - t
    compacted_glob = str(hourly_root / "parquet_compacted" / "airplay_events" / "*" / "*" / "*.parquet")
    scan_compacted_s, _ = _timed(
        lambda: duckdb.sql(f"SELECT count(*) FROM read_parquet('{compacted_glob}')").fetchall(), args.repeats
    )
    unchanged_s, _ = _timed(lambda: compact_asset(hourly_root, "airplay_events"), args.repeats)
    # One new hour for every station: only its day is recompacted.
    last_hour = recorded["hour"].max().to_pydatetime()
    for station in stations:
        write_asset_hour(hourly_root, "airplay_events", station, last_hour, schema.empty_table(), schema)
    t = time.perf_counter()
    one_hour = compact_asset(hourly_root, "airplay_events")
    one_hour_s = time.perf_counter() - t
    per_file_scan = scan_hourly_s / n_files
    year_files = len(stations) * 8760
    print(f"hourly layout sample: {n_files:,} files ({args.hourly_days} days x {len(stations)} stations), "
          f"written in {write_s:.1f} s ({write_s / n_files * 1000:.2f} ms/file)")  # fmt: skip
    ratio = scan_hourly_s / scan_compacted_s
    print(f"  DuckDB scan of the hourly files: median {scan_hourly_s:.3f} s = "
          f"{per_file_scan * 1000:.3f} ms/file; of the compacted days: {scan_compacted_s:.3f} s "
          f"(hourly / compacted = {ratio:.0f}x)")  # fmt: skip
    print(f"  first compaction: {first_s:.2f} s for {first.days} days ({first_s / first.days:.2f} s/day); "
          f"nothing changed: {unchanged_s * 1000:.1f} ms; one new hour: {one_hour_s:.2f} s "
          f"({one_hour.days_rewritten} day rewritten from {one_hour.files_read} files)")  # fmt: skip
    print(f"  EXTRAPOLATED to a year ({year_files:,} files per asset): hourly scan "
          f"~{per_file_scan * year_files:.0f} s per asset per query; first compaction "
          f"~{first_s / first.days * 365 / 60:.1f} min per asset (once)")  # fmt: skip


if __name__ == "__main__":
    main()
