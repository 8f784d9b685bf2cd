"""Airplay evaluation: BAF-style scores on a generated broadcast set, and speed against plain ffmpeg decode.

    .venv/bin/python -m benchmarks.airplay_eval [--quick] [--calibrate] [--out DIR]

--quick uses 12 minutes per station instead of 60. --calibrate also sweeps the acceptance threshold,
the boundary offsets and the confidence fit on the same set (how docs/airplay.md chose them).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.fine_presence import SamplesAudio
from pige_pipeline.airplay.fingerprint import fingerprint_rows
from pige_pipeline.airplay.index import update_index
from pige_pipeline.airplay.matcher import (
    DEFAULT_PARAMS,
    MatchParams,
    Play,
    confidence,
    evidence,
    match_fingerprint_rows,
)
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from pige_pipeline.testing.airplay_evalset import build


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    return time.process_time()


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def score_station(plays: list[Play], truth: dict, excused: Sequence[tuple[str, float, float]] = ()) -> dict:
    """Event P/R (same track, overlap >= 50 % of the shorter), second-level P/R, boundary errors.

    `excused`: (track_id, start_s, end_s) where the truth's other music holds that catalogue recording
    (benchmarks/airplay_heldout.py): a play of the track there is neither true nor false, nor are its
    seconds.
    """
    truths = truth["plays"]
    used: set[int] = set()
    tp, start_err, end_err, signed_start, signed_end = 0, [], [], [], []
    fp_plays, excused_plays = [], []
    for p in sorted(plays, key=lambda p: -p.duration_s):
        best, best_ov = None, 0.0
        for i, t in enumerate(truths):
            if i in used or t["track_id"] != p.track_id:
                continue
            ov = overlap(p.start_s, p.end_s, t["start_s"], t["end_s"])
            if ov >= 0.5 * min(p.duration_s, t["end_s"] - t["start_s"]) and ov > best_ov:
                best, best_ov = i, ov
        if best is None:
            inside = any(
                tid == p.track_id and overlap(p.start_s, p.end_s, a, b) >= 0.5 * p.duration_s
                for tid, a, b in excused
            )
            (excused_plays if inside else fp_plays).append(p)
            continue
        used.add(best)
        tp += 1
        t = truths[best]
        start_err.append(abs(p.start_s - t["start_s"]))
        end_err.append(abs(p.end_s - t["end_s"]))
        signed_start.append(p.start_s - t["start_s"])
        signed_end.append(p.end_s - t["end_s"])
    missed = [truths[i] for i in range(len(truths)) if i not in used]
    # Second level: each second labelled with the tracks truly on air and the tracks reported.
    n = int(math.ceil(truth["duration_s"])) + 1
    true_sets: list[set[str]] = [set() for _ in range(n)]
    for t in truths:
        for s in range(int(t["start_s"]), min(n, int(math.ceil(t["end_s"])))):
            if overlap(s, s + 1, t["start_s"], t["end_s"]) >= 0.5:
                true_sets[s].add(t["track_id"])
    det_sets: list[set[str]] = [set() for _ in range(n)]
    for p in plays:
        for s in range(max(0, int(p.start_s)), min(n, int(math.ceil(p.end_s)))):
            if overlap(s, s + 1, p.start_s, p.end_s) >= 0.5:
                det_sets[s].add(p.track_id)
    excused_sets: list[set[str]] = [set() for _ in range(n)]
    for tid, a, b in excused:
        for s in range(max(0, int(a)), min(n, int(math.ceil(b)))):
            if overlap(s, s + 1, a, b) >= 0.5:
                excused_sets[s].add(tid)
    sec_tp = sum(len(d & t) for d, t in zip(det_sets, true_sets, strict=True))
    sec_fp = sum(len(d - t - e) for d, t, e in zip(det_sets, true_sets, excused_sets, strict=True))
    sec_fn = sum(len(t - d) for d, t in zip(det_sets, true_sets, strict=True))
    # Plays reported inside talk or out-of-catalogue music (not covered by any true play).
    in_negative = 0
    for p in fp_plays:
        for kind, a, b in truth["negatives"]:
            if kind in ("talk", "ooc") and overlap(p.start_s, p.end_s, a, b) >= 0.5 * p.duration_s:
                in_negative += 1
                break
    return {
        "tp": tp,
        "fp": len(fp_plays),
        "fn": len(missed),
        "sec_tp": sec_tp,
        "sec_fp": sec_fp,
        "sec_fn": sec_fn,
        "start_err": start_err,
        "end_err": end_err,
        "signed_start": signed_start,
        "signed_end": signed_end,
        "in_negative": in_negative,
        "excused": len(excused_plays),
        "missed_kinds": [m["kind"] for m in missed],
        "fp_detail": [
            (p.track_id, round(p.start_s, 1), round(p.end_s, 1), round(p.ber, 3)) for p in fp_plays
        ],
    }


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def summarise(results: dict[str, dict]) -> dict:
    total = {k: sum(r[k] for r in results.values()) for k in ("tp", "fp", "fn", "sec_tp", "sec_fp", "sec_fn")}
    starts = [e for r in results.values() for e in r["start_err"]]
    ends = [e for r in results.values() for e in r["end_err"]]
    p, r, f = prf(total["tp"], total["fp"], total["fn"])
    sp, sr, sf = prf(total["sec_tp"], total["sec_fp"], total["sec_fn"])
    return {
        "event_p": p,
        "event_r": r,
        "event_f1": f,
        "second_p": sp,
        "second_r": sr,
        "second_f1": sf,
        "median_start_err_s": float(np.median(starts)) if starts else float("nan"),
        "median_end_err_s": float(np.median(ends)) if ends else float("nan"),
        "plays_in_speech_or_ooc": sum(r["in_negative"] for r in results.values()),
        "excused": sum(r.get("excused", 0) for r in results.values()),
        **total,
    }


def run(out: Path, quick: bool, calibrate: bool, rebuild: bool, seed: int) -> dict:
    truth_path = out / "truth.json"
    if rebuild or not truth_path.exists():
        t0 = time.monotonic()
        build(out, minutes=12.0 if quick else 60.0, seed=seed)
        print(f"built the evaluation set in {time.monotonic() - t0:.0f} s under {out}")
    truth = json.loads(truth_path.read_text())
    t0 = time.monotonic()
    update = update_index(load_catalogue(Path(truth["catalogue"])), out / "state", persist=False)
    index = update.index
    print(
        f"catalogue: {index.n_tracks} tracks, {index.reference_hours():.2f} h, indexed in "
        f"{time.monotonic() - t0:.1f} s ({len(update.fingerprinted)} fingerprinted), "
        f"problems: {update.problems}"
    )
    loose = replace(DEFAULT_PARAMS, accept_ber=0.40, min_play_s=5.0, min_confidence=0.0)
    params = loose if calibrate else DEFAULT_PARAMS
    results, speed, raw_plays = {}, {}, {}
    for st in truth["stations"]:
        path = st["path"]
        c0, w0 = _child_cpu(), time.monotonic()
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-f", "null", "-"], check=True
        )
        ff_cpu, ff_wall = _child_cpu() - c0, time.monotonic() - w0
        c0, s0, w0 = _child_cpu(), _self_cpu(), time.monotonic()
        samples = decode_mono(path, ANALYSIS_SAMPLE_RATE)
        dec_cpu = _child_cpu() - c0
        f0 = _self_cpu()
        rows = fingerprint_rows([(0.0, samples)], ANALYSIS_SAMPLE_RATE)
        m0, mc0 = _self_cpu(), _child_cpu()
        audio = SamplesAudio([(0.0, samples)], index)
        plays = match_fingerprint_rows(index, rows, params, audio)
        # The catalogue intros decoded for the notes test (talkover) are ffmpeg children: counted too.
        m1 = _self_cpu() + (_child_cpu() - mc0)
        ours_cpu = dec_cpu + (m1 - s0)
        speed[st["name"]] = {
            "audio_s": st["duration_s"],
            "ffmpeg_decode_cpu_s": ff_cpu,
            "ffmpeg_decode_wall_s": ff_wall,
            "decode_11k_cpu_s": dec_cpu,
            "fingerprint_cpu_s": m0 - f0,
            "match_cpu_s": m1 - m0,
            "total_cpu_s": ours_cpu,
            "ratio_cpu": ours_cpu / ff_cpu,
            "wall_s": time.monotonic() - w0,
        }
        raw_plays[st["name"]] = plays
        results[st["name"]] = score_station(plays, st)
    report = {"overall": summarise(results), "stations": {}, "speed": speed}
    for name, r in results.items():
        report["stations"][name] = summarise({name: r}) | {
            "missed_kinds": r["missed_kinds"],
            "false_plays": r["fp_detail"],
        }
    if calibrate:
        report["calibration"] = calibration(raw_plays, truth)
    return report


def calibration(raw: dict[str, list[Play]], truth: dict) -> dict:
    """Fit the confidence logistic on every loosely accepted play, then sweep its acceptance threshold."""
    by_name = {s["name"]: s for s in truth["stations"]}
    feats, labels, starts, ends = [], [], [], []
    for name, plays in raw.items():
        res = score_station(plays, by_name[name])
        starts += res["signed_start"]
        ends += res["signed_end"]
        wrong = {(t, s) for t, s, _e, _b in res["fp_detail"]}
        for p in plays:
            feats.append([evidence(p.ber, p.duration_s)])
            labels.append(0.0 if (p.track_id, round(p.start_s, 1)) in wrong else 1.0)
    coef = _logistic(np.array(feats), np.array(labels))
    fitted = replace(DEFAULT_PARAMS, conf_a=float(coef[0]), conf_c=float(coef[1]))
    sweep = []
    for threshold in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        res = {}
        for name, plays in raw.items():
            kept = [
                p
                for p in plays
                if p.duration_s >= DEFAULT_PARAMS.min_play_s
                and p.ber < DEFAULT_PARAMS.accept_ber
                and confidence(p, fitted) >= threshold
            ]
            res[name] = score_station(kept, by_name[name])
        s = summarise(res)
        sweep.append({"min_confidence": threshold, **{k: s[k] for k in ("event_f1", "fp", "fn", "tp")}})
    return {
        "sweep": sweep,
        "median_signed_start_s": float(np.median(starts)) if starts else None,
        "median_signed_end_s": float(np.median(ends)) if ends else None,
        "logistic_evidence_bias": coef.tolist(),
        "labelled_plays": len(labels),
        "wrong_plays": int(len(labels) - sum(labels)),
    }


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.01) -> np.ndarray:
    """Newton's method for a lightly ridge-regularised logistic regression; returns [weights..., bias]."""
    if len(x) == 0:
        return np.zeros(x.shape[1] + 1 if x.ndim == 2 else 2)
    a = np.column_stack([x, np.ones(len(x))])
    k = a.shape[1]
    ridge = l2 * np.diag([1.0] * (k - 1) + [0.0])
    w = np.zeros(k)
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(a @ w, -50, 50)))
        grad = a.T @ (p - y) + ridge @ w
        hess = (a * (p * (1 - p))[:, None]).T @ a + ridge
        w -= np.linalg.solve(hess + 1e-9 * np.eye(k), grad)
    return w


def print_report(report: dict) -> None:
    o = report["overall"]
    print(
        f"\noverall: event P {o['event_p']:.3f} R {o['event_r']:.3f} F1 {o['event_f1']:.3f} | second P "
        f"{o['second_p']:.3f} R {o['second_r']:.3f} F1 {o['second_f1']:.3f} | median start error "
        f"{o['median_start_err_s']:.2f} s, end {o['median_end_err_s']:.2f} s | plays in speech/ooc "
        f"{o['plays_in_speech_or_ooc']} (tp {o['tp']} fp {o['fp']} fn {o['fn']})"
    )
    print("\n| station | event P | event R | event F1 | second F1 | median start err (s) | missed | false |")
    print("|---|---|---|---|---|---|---|---|")
    for name, s in report["stations"].items():
        print(
            f"| {name} | {s['event_p']:.3f} | {s['event_r']:.3f} | {s['event_f1']:.3f} | "
            f"{s['second_f1']:.3f} | "
            f"{s['median_start_err_s']:.2f} | {s['fn']} {s['missed_kinds']} | {s['fp']} {s['false_plays']} |"
        )
    print(
        "\n| station | audio (s) | ffmpeg -f null CPU (s) | decode 11k | fingerprint | match | total/ffmpeg |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, s in report["speed"].items():
        print(
            f"| {name} | {s['audio_s']:.0f} | {s['ffmpeg_decode_cpu_s']:.2f} | {s['decode_11k_cpu_s']:.2f} | "
            f"{s['fingerprint_cpu_s']:.2f} | {s['match_cpu_s']:.2f} | {s['ratio_cpu']:.2f}x |"
        )
    ratios = [s["ratio_cpu"] for s in report["speed"].values()]
    print(f"median total/ffmpeg-decode CPU ratio: {np.median(ratios):.2f}x")
    if "calibration" in report:
        c = report["calibration"]
        print("\ncalibration sweep (min_confidence: F1 fp fn):")
        for row in c["sweep"]:
            print(f"  {row['min_confidence']:.2f}: {row['event_f1']:.3f} {row['fp']} {row['fn']}")
        print(
            f"median signed start {c['median_signed_start_s']}, end {c['median_signed_end_s']}; logistic "
            f"{c['logistic_evidence_bias']} on {c['labelled_plays']} plays ({c['wrong_plays']} wrong)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="12 minutes per station instead of 60")
    parser.add_argument("--calibrate", action="store_true", help="sweep thresholds and fit the confidence")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the evaluation audio")
    parser.add_argument(
        "--out", type=Path, default=None, help="work directory (default /tmp/pige-airplay-eval*)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="generator seed (default 5 with --quick, 7 without: the"
        " thresholds are calibrated on the quick set and scored on the full one)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    args = parser.parse_args()
    out = args.out or Path("/tmp") / ("pige-airplay-eval-quick" if args.quick else "pige-airplay-eval")
    seed = args.seed if args.seed is not None else (5 if args.quick else 7)
    report = run(out, args.quick, args.calibrate, args.rebuild, seed)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()

__all__ = ["MatchParams", "main", "run"]
