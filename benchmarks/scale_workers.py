"""Scale-out throughput: the same station-hours on 1 Celery worker, then 2, each held to one core.

    .venv/bin/python -m benchmarks.scale_workers [--stations 8 --minutes 12 --batch-runs]

Builds one hour of `--stations` stations (real music around real French speech, speech shares from 0 to
50 %, `--minutes` of audio each), starts a real redis-server and `pige worker` processes pinned with
`taskset` to one core each (Whisper on one thread), and runs `pige process` for the hour:
1. one worker on core 0;
2. two workers, on cores 0 and 1;
3. with --batch-runs, two workers again with PIGE_STATIONS_PER_STEP=4 (event-log rows per station-hour);
4. the multiprocess executor (the one-machine default), two steps at once.
It prints station-hours per wall-hour (scaled to full hours by audio minutes), the speed-up, the CPU
seconds per station-hour of the audio and speech steps, the Dagster overhead per station step and per
run, and the event-log rows per station-hour. Results go to docs/benchmarks.md and docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import dagster as dg
import redis

from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.index import update_index
from pige_pipeline.store.chunks import chunk_path
from pige_pipeline.testing.mix import Piece, concat_mp3
from pige_pipeline.testing.sources import singularity_tracks
from tests.scale.support import (
    HOUR,
    PIGE,
    latest_run,
    long_prompts,
    pige_env,
    process,
    redis_server,
    step_outputs,
)

SPEECH_SHARES = (0.0, 0.15, 0.3, 0.5)


def build(root: Path, stations: int, minutes: float) -> dict[str, float]:
    """`stations` stations of `minutes` each, speech shares cycling through SPEECH_SHARES."""
    import yaml

    tracks, prompts = singularity_tracks(), long_prompts()
    seconds = minutes * 60
    shares = {}
    for i in range(stations):
        sid = f"st-{i}"
        share = SPEECH_SHARES[i % len(SPEECH_SHARES)]
        pieces, speech_left, music_left, k = [], share * seconds, (1 - share) * seconds, 0
        while speech_left > 1 or music_left > 1:
            if music_left > 1:
                take = min(music_left, 90.0)
                pieces.append(Piece(tracks[(i + k) % len(tracks)], 5.0, take))
                music_left -= take
            if speech_left > 1:
                prompt = prompts[(i * 3 + k) % len(prompts)]
                with wave.open(str(prompt)) as wav:
                    take = min(speech_left, wav.getnframes() / wav.getframerate())
                pieces.append(Piece(prompt, 0.0, take))
                speech_left -= take
            k += 1
        concat_mp3(chunk_path(root, sid, HOUR.replace(minute=1), "mp3"), pieces)
        shares[sid] = share
    entries = [
        {"id": s, "name": s, "stream_url": f"http://127.0.0.1:9/{s}", "language": "fr"} for s in shares
    ]
    (root / "stations.yaml").write_text(yaml.safe_dump({"stations": entries}), encoding="utf-8")
    csv = root / "catalogue" / "catalogue.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    rows = ["track_id,title,artist,isrc,path"] + [
        f"T{i},Track {i},Singularity,,{t}" for i, t in enumerate(tracks)
    ]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    update_index(load_catalogue(csv), root / "state" / "catalogue")
    return shares


def _worker(env: dict[str, str], name: str, core: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["taskset", "-c", str(core), PIGE, "worker", "--queues", "audio,speech", "--concurrency", "1",
         "--name", name],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while b" ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(log.read_text(errors="replace")[-2000:])
        time.sleep(0.2)
    return proc


def _analyse(home: Path, wall_s: float, audio_minutes: float, stations: int) -> dict:
    instance, run_id = latest_run(home)
    records = instance.all_logs(run_id)
    steps = step_outputs(instance, run_id)
    starts, spans = {}, {}
    for record in records:
        event = record.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS and event.step_key in starts:
            spans[event.step_key] = record.timestamp - starts[event.step_key]
    compute = {k: m["seconds"] for k, m in steps.items()}
    speech = sum(v for k, v in compute.items() if k.startswith("speech."))
    audio = sum(v for k, v in compute.items() if not k.startswith("speech."))
    station_steps = [k for k in spans if "_stations[" in k]
    # What Dagster adds inside a station step: its STEP_START..STEP_SUCCESS minus our own compute time.
    inside = [spans[k] - compute[k] for k in station_steps if k in compute]
    other = [v for k, v in spans.items() if "_stations[" not in k]
    scale = 60.0 / audio_minutes  # the chunks hold `audio_minutes` of each hour
    return {
        "wall_s": round(wall_s, 1),
        "station_hours_per_wall_hour": round(stations * 3600 / (wall_s * scale), 2),
        "audio_cpu_s_per_station_hour": round(audio * scale / stations, 1),
        "speech_cpu_s_per_station_hour": round(speech * scale / stations, 1),
        "compute_share_of_worker_time": None,
        "station_steps": len(station_steps),
        "step_overhead_inside_s_median": round(statistics.median(inside), 3) if inside else None,
        "plan_finish_steps": len(other),
        "plan_finish_s_median": round(statistics.median(other), 3) if other else None,
        "compute_s_total": round(audio + speech, 1),
        "event_rows": len(records),
        # Rows of the station steps grow with stations; the rest (plan, finish, run) is per hour.
        "station_step_rows_per_station_hour": round(
            sum(1 for r in records if "_stations[" in (r.step_key or "")) / stations, 1
        ),
        "rows_per_hourly_run_outside_station_steps": sum(
            1 for r in records if "_stations[" not in (r.step_key or "")
        ),
    }


def run_celery(
    template: Path, work: Path, redis_url: str, cores: list[int], batch: int, minutes: float
) -> dict:
    root = work / "data"
    shutil.copytree(template, root)
    home = work / "home"
    env = pige_env(
        root,
        home,
        "celery",
        redis_url,
        PIGE_STATIONS_PER_STEP=str(batch),
        PIGE_CELERY_VISIBILITY_TIMEOUT="3600",
    )
    procs = [_worker(env, f"w{i}", core, work / f"w{i}.log") for i, core in enumerate(cores)]
    try:
        started = time.monotonic()
        done = process(env, timeout=7200)
        wall = time.monotonic() - started
    finally:
        for proc in procs:
            subprocess.run(["pkill", "-KILL", "-g", str(proc.pid)], check=False)
            proc.wait()
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:])
    stations = len(list((root / "chunks").iterdir()))
    result = _analyse(home, wall, minutes, stations)
    result["compute_share_of_worker_time"] = round(result["compute_s_total"] / (wall * len(cores)), 3)
    client = redis.Redis.from_url(redis_url)
    results = list(client.scan_iter("celery-task-meta-*"))
    sizes = [client.memory_usage(key) or 0 for key in results]
    result["redis_results_kept"] = len(results)
    result["redis_bytes_per_step_result_median"] = int(statistics.median(sizes)) if sizes else 0
    result["redis_used_memory_mb"] = round(client.info("memory")["used_memory"] / 1e6, 1)
    client.flushdb()
    return result


def run_multiprocess(template: Path, work: Path, minutes: float) -> dict:
    root = work / "data"
    shutil.copytree(template, root)
    home = work / "home"
    env = pige_env(root, home, "multiprocess", PIGE_MAX_CONCURRENT_STEPS="2")
    started = time.monotonic()
    done = process(env, timeout=7200)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:])
    stations = len(list((root / "chunks").iterdir()))
    result = _analyse(home, wall, minutes, stations)
    result["compute_share_of_worker_time"] = round(result["compute_s_total"] / (wall * 2), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=12.0, help="minutes of audio per station-hour")
    parser.add_argument(
        "--batch-runs", action="store_true", help="also run 2 workers with 4 stations per step"
    )
    parser.add_argument("--no-multiprocess", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pige-scale-") as tmp:
        tmp_path = Path(tmp)
        template = tmp_path / "template"
        shares = build(template, args.stations, args.minutes)
        print(f"{args.stations} station-hours, {args.minutes:g} min of audio each, speech shares {shares}")
        results = {}
        with redis_server(tmp_path) as url:
            results["celery_1_worker"] = run_celery(template, tmp_path / "one", url, [0], 1, args.minutes)
            print("1 worker:", json.dumps(results["celery_1_worker"]))
            results["celery_2_workers"] = run_celery(template, tmp_path / "two", url, [0, 1], 1, args.minutes)
            print("2 workers:", json.dumps(results["celery_2_workers"]))
            if args.batch_runs:
                results["celery_2_workers_batch4"] = run_celery(
                    template, tmp_path / "batch", url, [0, 1], 4, args.minutes
                )
                print("2 workers, 4 stations per step:", json.dumps(results["celery_2_workers_batch4"]))
        if not args.no_multiprocess:
            results["multiprocess_2"] = run_multiprocess(template, tmp_path / "mp", args.minutes)
            print("multiprocess, 2 at once:", json.dumps(results["multiprocess_2"]))
        one, two = results["celery_1_worker"], results["celery_2_workers"]
        speedup = two["station_hours_per_wall_hour"] / one["station_hours_per_wall_hour"]
        print(f"speed-up of 2 workers over 1: {speedup:.2f}x (target >= 1.8x)")
        results["speedup_2_over_1"] = round(speedup, 2)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
