"""Recorder load: N stations on a local Icecast, recorded by `pige record`; CPU, memory and gaps.

    .venv/bin/python -m benchmarks.recorder_load --stations 10 50 100 --seconds 600

Each station is one mount fed by a stream-copied MP3 loop (128 kb/s, real music). The recorder runs
as its own process (`pige record`), and its process tree (Python + one ffmpeg per station) is sampled
with psutil. The same run decodes the same MP3 with `ffmpeg -i X -f null -` for the ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import yaml

from pige_pipeline.audio.probe import probe_audio
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.store.gaps import read_gaps
from pige_pipeline.testing.icecast import IcecastServer
from pige_pipeline.testing.sources import singularity_tracks

PIGE = str(Path(sys.executable).with_name("pige"))


def make_stream_file(workdir: Path) -> Path:
    out = workdir / "stream.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(singularity_tracks()[2]), "-t", "180",
         "-ac", "2", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", str(out)],
        check=True,
    )  # fmt: skip
    return out


def tree_cpu(proc: psutil.Process) -> tuple[float, float, float, int]:
    """(cpu seconds, rss bytes, uss bytes, process count) of a process and its children."""
    cpu = rss = uss = 0.0
    procs = [proc, *proc.children(recursive=True)]
    for p in procs:
        try:
            times = p.cpu_times()
            cpu += times.user + times.system
            mem = p.memory_full_info()
            rss += mem.rss
            uss += mem.uss
        except psutil.Error:
            continue
    return cpu, rss, uss, len(procs)


def run_one(
    n: int, seconds: float, segment_s: int, stream: Path, workdir: Path, icy: bool, live: bool = False
) -> dict:
    data_root = workdir / f"data-{n}{'-live' if live else ''}"
    with IcecastServer(max_sources=n + 10, max_clients=4 * n + 50) as ice:
        mounts = [f"/s{i:03d}.mp3" for i in range(n)]
        for mount in mounts:
            ice.add_source(mount, stream, wait_s=0)
        for mount in mounts:
            ice.wait_mount(mount, 30)
        stations = [
            {"id": f"s{i:03d}", "name": f"S{i}", "stream_url": ice.url(m)} for i, m in enumerate(mounts)
        ]
        data_root.mkdir(parents=True)
        (data_root / "stations.yaml").write_text(yaml.safe_dump({"stations": stations}), encoding="utf-8")
        source_procs = [psutil.Process(s.process.pid) for s in ice.sources.values() if s.process]
        src_cpu0 = sum(sum(p.cpu_times()[:2]) for p in source_procs)
        started = datetime.now(UTC)
        if live:
            # A recorder with a live sink that measures each block's level, as the dead-air monitor does.
            cmd = [sys.executable, "-m", "benchmarks.recorder_load", "--child-live", str(data_root),
                   str(segment_s), str(seconds)]  # fmt: skip
        else:
            cmd = [PIGE, "record", "--data-root", str(data_root), "--segment-seconds", str(segment_s),
                   "--duration", str(seconds)] + ([] if icy else ["--no-icy"])  # fmt: skip
        recorder = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        root = psutil.Process(recorder.pid)
        # Skip the start-up (connections, probing) before measuring the steady state.
        time.sleep(min(30.0, seconds / 4))
        cpu0, _r, _u, _n = tree_cpu(root)
        t0 = time.monotonic()
        samples = []
        while recorder.poll() is None and time.monotonic() - t0 < seconds - min(30.0, seconds / 4) - 15:
            time.sleep(10)
            cpu, rss, uss, count = tree_cpu(root)
            samples.append({"cpu": cpu, "t": time.monotonic(), "rss": rss, "uss": uss, "procs": count})
        # A sample taken while the recorder was already stopping misses the ffmpegs that had exited
        # (their CPU leaves the tree with them): keep only samples of the whole tree.
        while len(samples) > 1 and samples[-1]["cpu"] < samples[-2]["cpu"]:
            samples.pop()
        cpu1 = samples[-1]["cpu"] if samples else cpu0
        elapsed = (samples[-1]["t"] - t0) if samples else 1.0
        src_cpu = sum(sum(p.cpu_times()[:2]) for p in source_procs if p.is_running()) - src_cpu0
        src_elapsed = (datetime.now(UTC) - started).total_seconds()
        out, err = recorder.communicate(timeout=120)
        ended = datetime.now(UTC)
    recorded = 0.0
    spanned = 0.0
    gap_count = 0
    gap_s = 0.0
    for st in stations:
        chunks = list_chunks(data_root, st["id"])
        lengths = [probe_audio(chunk.path).duration_s for chunk in chunks]
        recorded += sum(lengths)
        if chunks:
            spanned += (chunks[-1].start - chunks[0].start).total_seconds() + lengths[-1]
        found = read_gaps(data_root, st["id"], started - timedelta(minutes=1), ended)
        gap_count += len(found)
        gap_s += sum(g.duration_s or 0 for g in found)
    rss_med = statistics.median(s["rss"] for s in samples) if samples else 0
    uss_med = statistics.median(s["uss"] for s in samples) if samples else 0
    cpu_pct = 100 * (cpu1 - cpu0) / elapsed
    return {
        "stations": n,
        "seconds": seconds,
        "segment_seconds": segment_s,
        "icy": icy,
        "live_sink": live,
        "live_blocks_per_station_s": _blocks_rate(out, n, seconds) if live else None,
        "recorder_cpu_pct_of_one_core": round(cpu_pct, 1),
        "cpu_pct_per_station": round(cpu_pct / n, 3),
        "rss_mb_total_median": round(rss_med / 2**20, 1),
        "uss_mb_total_median": round(uss_med / 2**20, 1),
        "uss_mb_per_station": round(uss_med / 2**20 / n, 2),
        "sources_cpu_pct_of_one_core": round(100 * src_cpu / src_elapsed, 1),
        "gaps": gap_count,
        "gap_seconds": round(gap_s, 1),
        "recorded_station_seconds": round(recorded, 1),
        # Audio recorded over the span from each station's first chunk start to its last chunk end.
        "coverage": round(recorded / spanned, 5) if spanned else 0.0,
        "cpu_samples": [round(x["cpu"], 2) for x in samples],
        "procs": [x["procs"] for x in samples],
        "recorder_exit": recorder.returncode,
        "recorder_stderr_tail": err.decode(errors="replace")[-300:],
    }


def _blocks_rate(out: bytes, n: int, seconds: float) -> float | None:
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        return round(json.loads(lines[-1])["blocks"] / n / seconds, 3)
    except (IndexError, ValueError, KeyError):
        return None


class LevelSink:
    """Counts blocks and computes each one's RMS: the cheapest real consumer of live audio."""

    def __init__(self) -> None:
        self.blocks = 0

    def feed(self, station_id: str, block_start: datetime, samples: object, sample_rate: int) -> None:
        import numpy as np

        float(np.sqrt(np.mean(np.asarray(samples, dtype=np.float32) ** 2)))
        self.blocks += 1

    def stream_down(self, station_id: str, at: datetime) -> None:
        pass


def child_live(data_root: Path, segment_s: int, seconds: float) -> None:
    from pige_pipeline.recorder.multi_station import Recorder
    from pige_pipeline.recorder.station_loop import RecorderConfig

    sink = LevelSink()
    recorder = Recorder(
        data_root, data_root / "stations.yaml", RecorderConfig(segment_seconds=segment_s), sink=sink
    )
    stats = recorder.run(seconds)
    print(json.dumps({"blocks": sink.blocks, "stations": len(stats)}))


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child-live":
        child_live(Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--segment-seconds", type=int, default=60)
    parser.add_argument("--no-icy", action="store_true")
    parser.add_argument("--live", action="store_true", help="Also run each N with a live-audio sink.")
    parser.add_argument("--out", type=Path, default=None, help="Write the results as JSON here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pige-recbench-") as tmp:
        workdir = Path(tmp)
        stream = make_stream_file(workdir)
        decode = []
        for _ in range(3):
            # CPU time of the child, not wall time: other work on a shared machine must not count.
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            null = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(stream), "-f", "null", "-"]
            subprocess.run(null, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            decode.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        audio_s = probe_audio(stream).duration_s
        decode_pct = 100 * statistics.median(decode) / audio_s
        print(f"decode floor: ffmpeg -f null decodes 1 s of this MP3 in {decode_pct / 100:.4f} s "
              f"(= {decode_pct:.2f}% of one core per real-time stream)", flush=True)  # fmt: skip
        results = []
        for n in args.stations:
            result = run_one(n, args.seconds, args.segment_seconds, stream, workdir, not args.no_icy)
            result["decode_floor_pct_per_station"] = round(decode_pct, 3)
            result["recorder_vs_decode"] = round(result["cpu_pct_per_station"] / decode_pct, 3)
            results.append(result)
            print(json.dumps(result), flush=True)
            if args.live:
                result = run_one(n, args.seconds, args.segment_seconds, stream, workdir, True, live=True)
                result["decode_floor_pct_per_station"] = round(decode_pct, 3)
                result["recorder_vs_decode"] = round(result["cpu_pct_per_station"] / decode_pct, 3)
                results.append(result)
                print(json.dumps(result), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
