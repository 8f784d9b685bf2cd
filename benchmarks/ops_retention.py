"""Retention and storage health on a large chunk store: how long planning, deleting and checking take.

The store is built from hard links to one real MP3 (so it costs no disk): N stations x D days x 24
hourly chunks, plus a dead-air alert every 6 hours and one legal hold per station. Times are medians
of repeated runs, with `find chunks -type f` over the same tree as the floor (one directory walk).

    .venv/bin/python -m benchmarks.ops_retention --stations 10 --days 120
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import yaml

from pige_pipeline.hours import hour_start
from pige_pipeline.maintenance.holds import LegalHold, add_hold
from pige_pipeline.maintenance.retention import apply_retention, plan_retention
from pige_pipeline.maintenance.storage import check_storage
from pige_pipeline.stations import load_stations
from pige_pipeline.store.chunks import chunk_path
from pige_pipeline.store.parquet import write_asset_hour
from pige_pipeline.testing.sources import singularity_tracks

UTC_US = pa.timestamp("us", tz="UTC")
ALERTS = pa.schema([("station", pa.string()), ("hour", UTC_US), ("alert_id", pa.string()), ("start", UTC_US),
                    ("end", UTC_US), ("notification_status", pa.string())])  # fmt: skip


def build(root: Path, stations: int, days: int, now: datetime) -> int:
    source = root / "source.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(singularity_tracks()[0]), "-t", "5",
                    "-c:a", "libmp3lame", "-b:a", "64k", str(source)], check=True)  # fmt: skip
    ids = [f"radio-{i:02d}" for i in range(stations)]
    entries = [
        {"id": s, "name": s, "stream_url": f"http://127.0.0.1/{s}", "retention_days": 30 + 10 * (i % 3)}
        for i, s in enumerate(ids)
    ]
    (root / "stations.yaml").write_text(yaml.safe_dump({"stations": entries}))
    files = 0
    for station in ids:
        for hour_index in range(days * 24):
            start = now - timedelta(hours=hour_index + 1)
            dest = chunk_path(root, station, start, "mp3")
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, dest)
            files += 1
            if hour_index % 6 == 0:
                row = {"alert_id": f"{station}-{hour_index}", "start": start + timedelta(minutes=10),
                       "end": start + timedelta(minutes=11), "notification_status": "sent"}  # fmt: skip
                write_asset_hour(root, "dead_air_alerts", station, start, [row], ALERTS)
        add_hold(root, LegalHold(id=f"hold-{station}", station=station, start=now - timedelta(days=days - 5),
                                 end=now - timedelta(days=days - 6), reason="benchmark"))  # fmt: skip
    return files


def median_time(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    now = hour_start(datetime.now(UTC))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = build(root, args.stations, args.days, now)
        registry = load_stations(root / "stations.yaml")
        find = ["find", str(root / "chunks"), "-type", "f"]
        find_s = median_time(lambda: subprocess.run(find, capture_output=True, check=True), args.repeat)
        plan_s = median_time(lambda: plan_retention(root, registry, now), args.repeat)
        health_s = median_time(lambda: check_storage(root, now, record=False), args.repeat)
        plan = plan_retention(root, registry, now)
        began = time.perf_counter()
        result = apply_retention(root, plan, run_id="benchmark")
        delete_s = time.perf_counter() - began
    print(f"store: {args.stations} stations x {args.days} days = {files} chunk files")
    print(f"plan: {len(plan.delete)} to delete, {len(plan.kept)} kept by holds/alerts")
    print("| step | median s | files/s | ratio to find |")
    print("|---|---|---|---|")
    print(f"| find chunks -type f | {find_s:.3f} | {files / find_s:,.0f} | 1.0 |")
    print(f"| plan_retention (dry run) | {plan_s:.3f} | {files / plan_s:,.0f} | {plan_s / find_s:.1f} |")
    print(f"| check_storage | {health_s:.3f} | - | {health_s / find_s:.1f} |")
    print(f"| apply_retention ({len(result.deleted)} deletions, logged, once) | {delete_s:.3f} | "
          f"{len(result.deleted) / delete_s:,.0f} deleted/s | - |")  # fmt: skip


if __name__ == "__main__":
    main()
