"""Music or speech: how well the level-profile score of `unknown_music` separates them.

    .venv/bin/python -m benchmarks.music_speech [--json FILE]

Labelled audio: the two airplay evaluation sets (quick: seed 5, 3 x 12 min, where the threshold was
chosen; full: seed 7, 3 x 60 min) and the demo programme. Music is every catalogue play without
talk-over and every out-of-catalogue stretch; speech is every talk block. For each set it reports:
- the score of 30-s windows (every 10 s inside a block): music max, speech min, windows on the wrong
  side of MUSIC_SCORE_MAX;
- the same for the fallback test (fingerprint self-similarity < SELF_SIMILARITY_MAX);
- per-second accuracy of `music_seconds` (what `unknown_music` uses), on all labelled seconds and on
  those at least WINDOW_S / 2 from a block edge (the window blurs edges).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pige_pipeline.airplay.fingerprint import ITEM_S, raw_fingerprint
from pige_pipeline.airplay.music_likeness import (
    EDGE_WINDOW_S,
    MUSIC_SCORE_MAX,
    WINDOW_S,
    level_profile,
    music_score,
    music_seconds,
)
from pige_pipeline.airplay.unknown import SELF_SIMILARITY_MAX, self_similarity
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from pige_pipeline.demo.programme import build_programme
from pige_pipeline.testing.airplay_evalset import build

WORK = Path("/tmp/pige-music-speech")


def labelled_sets() -> list[tuple[str, Path, list[tuple[str, float, float]]]]:
    """(set name, audio, [(music|speech, start_s, end_s)]) for every labelled file, built if absent."""
    out = []
    # the same folders (and seeds) as benchmarks.airplay_eval, so either benchmark reuses the other's
    for name, minutes, seed in (("quick", 12.0, 5), ("full", 60.0, 7)):
        folder = Path("/tmp") / ("pige-airplay-eval-quick" if name == "quick" else "pige-airplay-eval")
        truth_path = folder / "truth.json"
        truth = json.loads(truth_path.read_text()) if truth_path.exists() else build(folder, minutes, seed)
        for station in truth["stations"]:
            blocks = [
                ("music", p["start_s"], p["end_s"]) for p in station["plays"] if p["kind"] != "talk_over"
            ]
            for kind, a, b in station["negatives"]:
                if kind != "silence":  # talk, or out-of-catalogue music
                    blocks.append(("speech" if kind == "talk" else "music", a, b))
            out.append((f"{name}/{station['degradation']}", Path(station["path"]), blocks))
    demo = WORK / "demo.mp3"
    if not demo.with_suffix(".json").exists():
        build_programme(demo)
    blocks = []
    for b in json.loads(demo.with_suffix(".json").read_text())["blocks"]:
        if b["kind"] in ("music", "speech"):
            blocks.append((b["kind"], b["start_s"] + b.get("talk_over_s", 0.0), b["end_s"]))
    out.append(("demo", demo, blocks))
    return out


def measure(path: Path, blocks: list[tuple[str, float, float]]) -> dict:
    samples = decode_mono(path, ANALYSIS_SAMPLE_RATE)
    profile = level_profile(samples, ANALYSIS_SAMPLE_RATE)
    prints = raw_fingerprint(samples, ANALYSIS_SAMPLE_RATE)
    per_second = music_seconds(profile)
    windows: dict[str, list[tuple[float, float]]] = {"music": [], "speech": []}
    seconds = {"music": [0, 0, 0, 0], "speech": [0, 0, 0, 0]}  # called music: all, of all; interior ...
    for kind, a, b in blocks:
        for s in np.arange(a + 1, b - 31, 10):
            i = int(s)
            score = music_score(profile["level_sd_db"][i : i + 30], profile["level_dips"][i : i + 30])
            sim = self_similarity(prints[int(s / ITEM_S) : int((s + 30) / ITEM_S)])
            windows[kind].append((score, sim))
        for sec in range(int(np.ceil(a)), min(int(b), len(per_second))):
            interior = a + WINDOW_S / 2 <= sec and sec + 1 <= b - WINDOW_S / 2
            seconds[kind][0] += int(per_second[sec])
            seconds[kind][1] += 1
            if interior:
                seconds[kind][2] += int(per_second[sec])
                seconds[kind][3] += 1
    return {"windows": windows, "seconds": seconds}


def _worst(values: list[float], music: bool) -> float | None:
    if not values:
        return None
    return round(max(values) if music else min(values), 3)


def summarise(results: dict[str, dict]) -> dict:
    total: dict = {"windows": {"music": [], "speech": []}, "seconds": {"music": [0] * 4, "speech": [0] * 4}}
    for r in results.values():
        for kind in ("music", "speech"):
            total["windows"][kind] += r["windows"][kind]
            total["seconds"][kind] = list(np.add(total["seconds"][kind], r["seconds"][kind]).tolist())
    report = {}
    for name, r in {**results, "all": total}.items():
        music, speech = r["windows"]["music"], r["windows"]["speech"]
        sm, ss = r["seconds"]["music"], r["seconds"]["speech"]
        report[name] = {
            "music_windows": len(music),
            "speech_windows": len(speech),
            "score_music_max": _worst([w[0] for w in music], True),
            "score_speech_min": _worst([w[0] for w in speech], False),
            "score_wrong": sum(w[0] >= MUSIC_SCORE_MAX for w in music)
            + sum(w[0] < MUSIC_SCORE_MAX for w in speech),
            "selfsim_music_max": _worst([w[1] for w in music], True),
            "selfsim_speech_min": _worst([w[1] for w in speech], False),
            "selfsim_wrong": sum(w[1] >= SELF_SIMILARITY_MAX for w in music)
            + sum(w[1] < SELF_SIMILARITY_MAX for w in speech),
            "music_seconds_found": round(sm[0] / max(1, sm[1]), 4),
            "speech_seconds_called_music": round(ss[0] / max(1, ss[1]), 4),
            "interior_music_seconds_found": round(sm[2] / max(1, sm[3]), 4),
            "interior_speech_seconds_called_music": round(ss[2] / max(1, ss[3]), 4),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    args = parser.parse_args()
    results = {name: measure(path, blocks) for name, path, blocks in labelled_sets()}
    report = summarise(results)
    print(
        f"score threshold {MUSIC_SCORE_MAX} (music below) on 30-s windows; fallback self-similarity "
        f"{SELF_SIMILARITY_MAX}; per-second decisions over {WINDOW_S}-s windows, "
        f"run ends over {EDGE_WINDOW_S} s"
    )
    print(
        f"{'set':22} {'win m/s':>9} {'music max':>9} {'speech min':>10} {'wrong':>5} "
        f"{'ss wrong':>8} {'music s':>8} {'speech s':>8} {'int. m':>7} {'int. s':>7}"
    )
    for name, r in report.items():
        print(
            f"{name:22} {r['music_windows']:>4}/{r['speech_windows']:<4} {r['score_music_max']!s:>9} "
            f"{r['score_speech_min']!s:>10} {r['score_wrong']:>5} {r['selfsim_wrong']:>8} "
            f"{r['music_seconds_found']:>8.1%} {r['speech_seconds_called_music']:>8.1%} "
            f"{r['interior_music_seconds_found']:>7.1%} {r['interior_speech_seconds_called_music']:>7.1%}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
