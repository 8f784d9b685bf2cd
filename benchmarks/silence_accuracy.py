"""Dead-air detection accuracy on a generated, labelled set: event precision/recall, boundary error.

    .venv/bin/python -m benchmarks.silence_accuracy [--programmes 8] [--mp3]

Each programme is ~9 minutes of real Debian music with 12 inserted dead-air stretches (digital zero,
a -70..-55 dBFS white noise floor, a -45..-33 dBFS 50/60 Hz hum, 2.5-25 s) and, in between, quiet
programme that must not be flagged (a synthetic pianissimo and real music at -55..-45 dBFS, speech
with 0.3-1.5 s pauses). `--mp3` sends each programme through a 128 kb/s MP3 round trip first, as a
station's stream would. A level-only detector (frames under -50 dBFS for 2 s, what `silencedetect`
does) runs on the same audio for comparison.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from pige_pipeline.silence import detect_silences
from pige_pipeline.silence.detect import FRAME_S, frame_features
from pige_pipeline.silence.synth import labelled_programme

THRESHOLD_DB, MIN_SECONDS = -50.0, 2.0


def level_only(samples: np.ndarray, rate: int) -> list[tuple[float, float]]:
    feat = frame_features(samples.astype(np.float32), rate, ceiling_db=-200.0)  # levels only
    quiet = np.concatenate(([False], feat.level_db < THRESHOLD_DB, [False])).astype(np.int8)
    edges = np.diff(quiet)
    frame_s = feat.frame_len / rate
    return [
        (lo * frame_s, hi * frame_s)
        for lo, hi in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
        if (hi - lo) * frame_s >= MIN_SECONDS
    ]


def match(truth: list[tuple[float, float]], found: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by intersection over union >= 0.5."""
    pairs, used = [], set()
    for i, (ts, te) in enumerate(truth):
        best, best_iou = None, 0.5
        for j, (fs, fe) in enumerate(found):
            if j in used:
                continue
            inter = max(0.0, min(te, fe) - max(ts, fs))
            iou = inter / (max(te, fe) - min(ts, fs))
            if iou >= best_iou:
                best, best_iou = j, iou
        if best is not None:
            used.add(best)
            pairs.append((i, best))
    return pairs


def mp3_round_trip(samples: np.ndarray, rate: int, workdir: Path) -> np.ndarray:
    raw, mp3 = workdir / "p.raw", workdir / "p.mp3"
    raw.write_bytes(samples.tobytes())
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(rate), "-ac", "1",
         "-i", str(raw), "-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", str(mp3)],
        check=True,
    )  # fmt: skip
    decoded = decode_mono(mp3, rate)
    # LAME adds encoder and decoder delay (a few thousand samples at most): find it on one loud second.
    ref = samples[2 * rate : 3 * rate].astype(float)
    corr = np.correlate(decoded[2 * rate : 3 * rate + 8000].astype(float), ref, "valid")
    lag = int(np.argmax(corr))
    print(f"  mp3 delay {lag / rate * 1000:.1f} ms")
    return decoded[lag : lag + len(samples)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programmes", type=int, default=8)
    parser.add_argument("--mp3", action="store_true", help="128 kb/s MP3 round trip before detection")
    args = parser.parse_args()
    rate = ANALYSIS_SAMPLE_RATE
    totals = {"ours": [0, 0, 0], "level_only": [0, 0, 0]}  # matched, truths, detections
    errors: list[float] = []
    by_kind: dict[str, list[int]] = {}
    quiet_false_s = {"ours": 0.0, "level_only": 0.0}
    quiet_total_s = 0.0
    audio_s, detect_s = 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.programmes):
            prog = labelled_programme(seed)
            samples = prog.samples()
            if args.mp3:
                samples = mp3_round_trip(samples, rate, Path(tmp))
            audio_s += len(samples) / rate
            started = time.perf_counter()
            found = detect_silences(samples, rate, THRESHOLD_DB, MIN_SECONDS)
            detect_s += time.perf_counter() - started
            truth = [(s, e) for s, e, _ in prog.truth]
            for name, spans in (
                ("ours", [(f.start_s, f.end_s) for f in found]),
                ("level_only", level_only(samples, rate)),
            ):
                pairs = match(truth, spans)
                totals[name][0] += len(pairs)
                totals[name][1] += len(truth)
                totals[name][2] += len(spans)
                for qs, qe, _ in prog.quiet_programme:
                    quiet_false_s[name] += sum(max(0.0, min(qe, e) - max(qs, s)) for s, e in spans)
                if name == "ours":
                    for i, j in pairs:
                        errors += [abs(truth[i][0] - spans[j][0]), abs(truth[i][1] - spans[j][1])]
                    matched = {i for i, _ in pairs}
                    for i, (_, _, kind) in enumerate(prog.truth):
                        stats = by_kind.setdefault(kind, [0, 0])
                        stats[0] += i in matched
                        stats[1] += 1
            quiet_total_s += sum(e - s for s, e, _ in prog.quiet_programme)
            print(f"programme {seed}: {len(samples) / rate:.0f} s, {len(truth)} silences, {len(found)} found")
    print(f"\naudio: {audio_s / 60:.1f} min{' (MP3 128 kb/s round trip)' if args.mp3 else ''}, "
          f"frame {FRAME_S * 1000:.0f} ms, threshold {THRESHOLD_DB} dBFS, min {MIN_SECONDS} s")  # fmt: skip
    print("| detector | events | precision | recall | quiet programme flagged |")
    print("|---|---|---|---|---|")
    for name, (matched, truths, detections) in totals.items():
        precision = matched / detections if detections else 1.0
        print(
            f"| {name} | {truths} | {precision:.3f} | {matched / truths:.3f} | "
            f"{quiet_false_s[name]:.1f} s of {quiet_total_s:.0f} s |"
        )
    print("\nrecall by kind (ours): " + ", ".join(f"{k} {m}/{n}" for k, (m, n) in sorted(by_kind.items())))
    err = np.array(errors)
    print(f"boundary error (ours, starts and ends): median {np.median(err):.3f} s, "
          f"p90 {np.percentile(err, 90):.3f} s, max {err.max():.3f} s")  # fmt: skip
    print(
        f"detection alone: {detect_s:.2f} s for {audio_s:.0f} s of audio "
        f"({audio_s / detect_s:.0f}x real time)"
    )


if __name__ == "__main__":
    main()
