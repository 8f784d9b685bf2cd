"""Dead-air detection speed as a ratio to plain decoding (`ffmpeg -i X -f null -`) of the same hour.

    .venv/bin/python -m benchmarks.silence_speed [--minutes 60] [--runs 5]

Two hours are timed: a clean line (the tuning set's first programme) and a station under a -37 dBFS
white hiss floor (the evaluation set's first programme: every quiet stretch there is a candidate, the
slow case), each encoded as a station stream would be: MP3, 128 kb/s, 44.1 kHz stereo, looped to
`--minutes`. Each run times, in
turn: ffmpeg decoding to null; `decode_mono` (ffmpeg to 11025 Hz mono int16, the shared analysis
decode); `detect_silences` on those samples; and the real command, `pige silence detect X --csv OUT`,
in its own process (so its Python start-up, about a second of imports, is counted too). Medians over
the runs are reported.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.silence_accuracy import ensure_packages
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from pige_pipeline.silence import detect_silences
from pige_pipeline.testing.silence_evalsets import EVAL_PACKAGES, EVALUATION, TUNING, field_programme


def build_hour(workdir: Path, minutes: float, hiss: bool) -> Path:
    prog, _cond = field_programme(EVALUATION if hiss else TUNING, 0)
    name = "hiss" if hiss else "clean"
    raw, one, looped = workdir / f"{name}.raw", workdir / f"{name}.mp3", workdir / f"{name}-hour.mp3"
    raw.write_bytes(prog.samples().tobytes())
    ff = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    subprocess.run(
        ff + ["-f", "s16le", "-ar", str(prog.sample_rate), "-ac", "1", "-i", str(raw),
              "-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", str(one)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ff + ["-stream_loop", "-1", "-i", str(one), "-t", str(minutes * 60), "-c", "copy", str(looped)],
        check=True,
    )
    return looped


def cpu_now() -> float:
    """CPU seconds of this process and its finished children (ffmpeg): robust to a busy machine."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result)."""
    wall, cpu = time.perf_counter(), cpu_now()
    out = fn()
    return time.perf_counter() - wall, cpu_now() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--line", choices=("clean", "hiss", "both"), default="both")
    args = parser.parse_args()
    lines = ["clean", "hiss"] if args.line == "both" else [args.line]
    if "hiss" in lines:
        ensure_packages(EVAL_PACKAGES)  # the hiss hour is made from the evaluation set's music
    for line in lines:
        measure(args, line)


def measure(args: argparse.Namespace, line: str) -> None:
    """Time one hour's decode, detection and command; print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        path = build_hour(Path(tmp), args.minutes, hiss=line == "hiss")
        null_cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "null", "-"]
        command = [str(Path(sys.executable).parent / "pige"), "silence", "detect", str(path)]
        command += ["--csv", str(Path(tmp) / "silences.csv")]
        runs: dict[str, list[tuple[float, float]]] = {"null": [], "decode": [], "detect": [], "command": []}
        found = 0
        for _ in range(args.runs):
            wall, cpu, _ = timed(lambda: subprocess.run(null_cmd, check=True))
            runs["null"].append((wall, cpu))
            wall, cpu, samples = timed(lambda: decode_mono(path, ANALYSIS_SAMPLE_RATE))
            runs["decode"].append((wall, cpu))
            wall, cpu, silences = timed(
                lambda s=samples: detect_silences(s, ANALYSIS_SAMPLE_RATE, -50.0, 2.0)
            )
            runs["detect"].append((wall, cpu))
            found = len(silences)
            wall, cpu, _ = timed(lambda: subprocess.run(command, check=True, capture_output=True))
            runs["command"].append((wall, cpu))
    runs["total"] = [(a[0] + b[0], a[1] + b[1]) for a, b in zip(runs["decode"], runs["detect"], strict=True)]
    med = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()
    }
    print(
        f"\n{line} line: {args.minutes:.0f} min of MP3 128 kb/s stereo, {args.runs} runs, medians; "
        f"{found} silences found"
    )
    print("| step | wall s | ratio (wall) | CPU s | ratio (CPU) |")
    print("|---|---|---|---|---|")
    labels = {
        "null": "ffmpeg -i X -f null -",
        "decode": "decode_mono (11025 Hz mono, the shared analysis decode)",
        "detect": "detect_silences on those samples",
        "total": "decode + detect (the per-hour cost, in one process)",
        "command": "the command `pige silence detect X --csv OUT`, start-up included",
    }
    for key, label in labels.items():
        wall, cpu = med[key]
        print(
            f"| {label} | {wall:.2f} | {wall / med['null'][0]:.2f} | {cpu:.2f} | {cpu / med['null'][1]:.2f} |"
        )


if __name__ == "__main__":
    main()
