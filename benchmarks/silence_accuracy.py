"""Dead-air detection accuracy on two labelled sets: one the thresholds were tuned on, one never seen.

    .venv/bin/python -m benchmarks.silence_accuracy [--programmes 8] [--set both|tuning|evaluation] [--mp3]

The sets are built by `pige_pipeline.testing.silence_evalsets` (see its table): the tuning set from the music
and voices the detector was developed on, the evaluation set from other music (supertux-data,
freedroidrpg-data), other voices (espeak-ng) and other seeds. The evaluation packages are installed
with apt-get when missing (sudo when not root). Each programme is ~8 minutes: songs, 12 dead-air
stretches of 2.5-25 s (programme removed, hum, dropouts inside songs; two stations in three under a
-45..-30 dBFS pink or white hiss floor) and quiet programme that must not be flagged (drones and held
chords with or without tremolo, soft music, speech pauses). `--mp3` sends each programme through a
128 kb/s MP3 round trip first, as a station's stream would. A level-only detector (frames under
-50 dBFS for 2 s, what `silencedetect` does) runs on the same audio for comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from pige_pipeline.silence import detect_silences
from pige_pipeline.silence.detect import frame_features
from pige_pipeline.testing.silence_evalsets import (
    EVAL_PACKAGES,
    EVALUATION,
    TUNING,
    SetMaterial,
    field_programme,
)

THRESHOLD_DB, MIN_SECONDS = -50.0, 2.0
LONG_S = 5.0  # the targets are for dead air of at least this long


def ensure_packages(packages: tuple[str, ...]) -> None:
    """apt-get install what is missing (the evaluation set's music and voices); CI does not need them."""
    missing = [
        p
        for p in packages
        if subprocess.run(["dpkg", "-s", p], capture_output=True, check=False).returncode != 0
    ]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and not shutil.which("sudo"):
        raise SystemExit(f"missing Debian packages {' '.join(missing)}: install them as root")
    print(f"installing {' '.join(missing)} (apt-get)")
    subprocess.run(sudo + ["apt-get", "update", "-q"], check=True)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-q", *missing], check=True)


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
    return decoded[lag : lag + len(samples)]


class Tally:
    """Counts for one detector on one set."""

    def __init__(self) -> None:
        self.matched = self.truths = self.found = 0
        self.long_truths = self.long_recalled = self.long_found = self.long_correct = 0
        self.errors: list[float] = []
        self.by_kind: dict[str, list[int]] = {}
        self.by_line: dict[str, list[int]] = {}
        self.quiet_flagged: dict[str, float] = {}
        self.missed: list[str] = []
        self.false: list[str] = []

    def add(
        self, truth: list[tuple[float, float, str]], spans: list[tuple[float, float]], line: str, prog
    ) -> None:
        plain = [(s, e) for s, e, _ in truth]
        pairs = match(plain, spans)
        hit_truth = {i for i, _ in pairs}
        hit_found = {j for _, j in pairs}
        self.matched += len(pairs)
        self.truths += len(truth)
        self.found += len(spans)
        for i, (s, e, kind) in enumerate(truth):
            stats = self.by_kind.setdefault(kind, [0, 0])
            stats[0] += i in hit_truth
            stats[1] += 1
            lines = self.by_line.setdefault(line, [0, 0])
            lines[0] += i in hit_truth
            lines[1] += 1
            if e - s >= LONG_S:
                self.long_truths += 1
                self.long_recalled += i in hit_truth
                if i not in hit_truth:
                    self.missed.append(f"{line} {kind} {s:.1f}-{e:.1f}")
        for j, (s, e) in enumerate(spans):
            if e - s >= LONG_S:
                self.long_found += 1
                self.long_correct += j in hit_found
                if j not in hit_found:
                    self.false.append(f"{line} {s:.1f}-{e:.1f}")
        for i, j in pairs:
            self.errors += [abs(plain[i][0] - spans[j][0]), abs(plain[i][1] - spans[j][1])]
        for qs, qe, label in prog.quiet_programme:
            flagged = sum(max(0.0, min(qe, e) - max(qs, s)) for s, e in spans)
            self.quiet_flagged[label] = self.quiet_flagged.get(label, 0.0) + flagged


def run_set(material: SetMaterial, programmes: int, mp3: bool, workdir: Path) -> dict[str, object]:
    rate = ANALYSIS_SAMPLE_RATE
    tallies = {"ours": Tally(), "level_only": Tally()}
    audio_s = detect_s = 0.0
    quiet_total: dict[str, float] = {}
    for index in range(programmes):
        prog, cond = field_programme(material, index)
        samples = prog.samples()
        if mp3:
            samples = mp3_round_trip(samples, rate, workdir)
        audio_s += len(samples) / rate
        started = time.perf_counter()
        found = detect_silences(samples, rate, THRESHOLD_DB, MIN_SECONDS)
        detect_s += time.perf_counter() - started
        line = "clean" if cond.hiss_db is None else f"hiss_{cond.hiss_colour}"
        tallies["ours"].add(prog.truth, [(f.start_s, f.end_s) for f in found], line, prog)
        tallies["level_only"].add(prog.truth, level_only(samples, rate), line, prog)
        for qs, qe, label in prog.quiet_programme:
            quiet_total[label] = quiet_total.get(label, 0.0) + qe - qs
        hiss = "clean line" if cond.hiss_db is None else f"{cond.hiss_colour} hiss {cond.hiss_db:.0f} dBFS"
        print(f"  {material.name} {index}: {len(samples) / rate:.0f} s, {hiss}, programme "
              f"{cond.programme_db:.0f} dBFS, {len(prog.truth)} dead air, {len(found)} found")  # fmt: skip
    return {"tallies": tallies, "audio_s": audio_s, "detect_s": detect_s, "quiet_total": quiet_total}


def report(name: str, result: dict[str, object], mp3: bool) -> None:
    tallies: dict[str, Tally] = result["tallies"]  # type: ignore[assignment]
    quiet_total: dict[str, float] = result["quiet_total"]  # type: ignore[assignment]
    audio_s = float(result["audio_s"])  # type: ignore[arg-type]
    print(f"\n### {name} set: {audio_s / 60:.1f} min{' (MP3 128 kb/s round trip)' if mp3 else ''}, "
          f"threshold {THRESHOLD_DB} dBFS, min {MIN_SECONDS} s")  # fmt: skip
    long = f">= {LONG_S:.0f} s"
    print(f"| detector | events | precision | recall | events {long} | precision {long} | recall {long} "
          "| median boundary error | quiet programme flagged |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for det, t in tallies.items():
        precision = t.matched / t.found if t.found else 1.0
        lp = t.long_correct / t.long_found if t.long_found else 1.0
        lr = t.long_recalled / t.long_truths if t.long_truths else 1.0
        med = float(np.median(t.errors)) if t.errors else float("nan")
        flagged = sum(t.quiet_flagged.values())
        recall = t.matched / t.truths if t.truths else 1.0
        quiet = f"{flagged:.1f} s of {sum(quiet_total.values()):.0f} s"
        print(f"| {det} | {t.truths} | {precision:.3f} | {recall:.3f} | {t.long_truths} | {lp:.3f} "
              f"| {lr:.3f} | {med:.3f} s | {quiet} |")  # fmt: skip
    ours = tallies["ours"]
    for what, counts in (("kind", ours.by_kind), ("line", ours.by_line)):
        print(
            f"recall by {what} (ours): " + ", ".join(f"{k} {m}/{n}" for k, (m, n) in sorted(counts.items()))
        )
    print("quiet programme flagged (ours): " + ", ".join(
        f"{k} {ours.quiet_flagged.get(k, 0.0):.1f} s of {v:.0f} s" for k, v in sorted(quiet_total.items())
    ))  # fmt: skip
    err = np.array(ours.errors)
    if err.size:
        print(f"boundary error (ours): median {np.median(err):.3f} s, p90 {np.percentile(err, 90):.3f} s, "
              f"max {err.max():.3f} s")  # fmt: skip
    if ours.missed:
        print("missed >= 5 s (ours): " + "; ".join(ours.missed))
    if ours.false:
        print("false >= 5 s (ours): " + "; ".join(ours.false))
    detect_s = float(result["detect_s"])  # type: ignore[arg-type]
    speed = audio_s / detect_s
    print(f"detection alone: {detect_s:.2f} s for {audio_s:.0f} s of audio ({speed:.0f}x real time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programmes", type=int, default=8, help="programmes per set")
    parser.add_argument("--set", choices=("both", "tuning", "evaluation"), default="both")
    parser.add_argument("--mp3", action="store_true", help="128 kb/s MP3 round trip before detection")
    args = parser.parse_args()
    sets = {"tuning": [TUNING], "evaluation": [EVALUATION], "both": [TUNING, EVALUATION]}[args.set]
    if EVALUATION in sets:
        ensure_packages(EVAL_PACKAGES)
    with tempfile.TemporaryDirectory() as tmp:
        results = {m.name: run_set(m, args.programmes, args.mp3, Path(tmp)) for m in sets}
    for name, result in results.items():
        report(name, result, args.mp3)


if __name__ == "__main__":
    main()
