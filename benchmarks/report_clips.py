"""Evidence benchmark: what recording each line's source costs the analytics rebuild, and what cutting
the clips costs a report page.

1. Sources at scale: a synthetic month of plays and dead air for many stations, with a chunk file name
   per station-hour (empty files: recording a source reads names only, it probes nothing); the time of
   `fill_sources` over every row, beside the full rebuild that contains it, in the same run.
2. Clips: a synthetic day of one station over real recorded MP3 hours (looped Debian music); the daily
   log written with fresh clips, with the clips kept from the last run, and with `clips=False`; per
   clip, against ffmpeg's plain decode of the same seconds of audio.

    .venv/bin/python -m benchmarks.report_clips [--stations 50] [--days 30] [--hours 6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from pige_pipeline.analytics import connect, db_path, rebuild
from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.evidence.sources import fill_sources
from pige_pipeline.reports import daily_log
from pige_pipeline.reports.periods import Period
from pige_pipeline.store.chunks import chunk_path
from pige_pipeline.testing.sources import singularity_tracks
from pige_pipeline.testing.synthetic_year import generate, settings_for, write_compacted, write_hourly

START = datetime(2026, 6, 1, tzinfo=UTC)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def sources_at_scale(base: Path, stations: int, days: int, repeats: int) -> None:
    root = base / "scale"
    names = [f"radio-{i:03d}" for i in range(stations)]
    data = generate(names, START, days * 24, seed=1, with_speech=False, with_fingerprints=False)
    write_compacted(root, data)
    for station in names:
        for hour in range(days * 24):
            path = chunk_path(root, station, START + timedelta(hours=hour), "mp3")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    started = time.perf_counter()
    result = rebuild(settings_for(root), compact=False, full=True)
    full = time.perf_counter() - started
    fills, rows = [], 0
    for _ in range(repeats):
        work = base / "fill.duckdb"
        shutil.copy(db_path(root), work)
        con = duckdb.connect(str(work))
        con.execute("UPDATE plays SET source_files = NULL; UPDATE dead_air_events SET source_files = NULL")
        t = time.perf_counter()
        rows = fill_sources(con, root, "plays") + fill_sources(con, root, "dead_air_events")
        fills.append(time.perf_counter() - t)
        empty = con.execute("SELECT count(*) FROM plays WHERE source_files = ''").fetchone()[0]
        con.close()
        work.unlink()
    print(
        f"sources: {stations} stations x {days} days, {rows:,} rows ({result.tables['plays']:,} plays), "
        f"{stations * days * 24:,} chunk files; full rebuild {full:.1f} s; fill_sources median "
        f"{_median(fills):.2f} s {[round(f, 2) for f in fills]} = {_median(fills) / full:.1%} of the "
        "rebuild; "
        f"rows without a chunk: {empty}; load {os.getloadavg()[0]:.1f}"
    )


def clips_for_a_day(base: Path, hours: int, repeats: int) -> None:
    root = base / "clips"
    station = "radio-a"
    data = generate([station], START, hours, seed=2, with_speech=False, with_fingerprints=False)
    write_hourly(root, data)
    music = base / "hour.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1",
         "-i", str(singularity_tracks()[0]), "-t", "3600", "-ac", "2", "-ar", "44100", "-b:a", "128k",
         str(music)],
        check=True,
    )  # fmt: skip
    for hour in range(hours):
        dest = chunk_path(root, station, START + timedelta(hours=hour), "mp3")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(music, dest)
    rebuild(settings_for(root))
    day = Period.day(START.date())
    clips = root / "reports" / "daily_log" / day.label / "clips"
    timings: dict[str, list[float]] = {"fresh clips": [], "clips kept": [], "no clips": [], "decode": []}
    with connect(root) as con:
        lines = con.execute("SELECT count(*) FROM plays").fetchone()[0]
        lines += con.execute("SELECT count(*) FROM dead_air_events").fetchone()[0]
        seconds = con.execute("SELECT sum(seconds) + 10 * count(*) FROM plays").fetchone()[0]
        for _ in range(repeats):
            shutil.rmtree(clips, ignore_errors=True)
            for label, kwargs in (("fresh clips", {}), ("clips kept", {}), ("no clips", {"clips": False})):
                t = time.perf_counter()
                daily_log.write_daily_log(root, con, day, None, ("html",), utc=True, **kwargs)
                timings[label].append(time.perf_counter() - t)
            t = time.perf_counter()
            decode_mono(music, 11025, start_s=0.0, duration_s=min(seconds / max(lines, 1), 3600))
            timings["decode"].append(time.perf_counter() - t)
    cut = (_median(timings["fresh clips"]) - _median(timings["no clips"])) / max(lines, 1)
    print(
        f"clips: {hours} recorded hours, {lines} lines; daily log with fresh clips "
        f"{_median(timings['fresh clips']):.1f} s, clips kept {_median(timings['clips kept']):.1f} s, "
        f"no clips {_median(timings['no clips']):.1f} s; per clip {cut:.3f} s = "
        f"{cut / _median(timings['decode']):.1f}x ffmpeg's plain decode of a line's audio "
        f"({_median(timings['decode']):.3f} s); {len(list(clips.iterdir()))} clip files; "
        f"load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pige-clips-") as tmp:
        sources_at_scale(Path(tmp), args.stations, args.days, args.repeats)
        clips_for_a_day(Path(tmp), args.hours, args.repeats)


if __name__ == "__main__":
    main()
