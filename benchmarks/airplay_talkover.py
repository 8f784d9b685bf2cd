"""Start errors of plays with a voice over their intro, on the tuning music (where `talkover.py` is tuned).

    .venv/bin/python -m benchmarks.airplay_talkover [--minutes 12] [--seed 5] [--out DIR] [--heldout DIR]

Builds the tuning set (`airplay_evalset.build`: singularity, drascula and asc music, the three
degradations mp3_128k / broadcast / fast_noise) with `TALK_OVER_PROGRAMME`: the held-out set's intro
talk-over (8-25 s of French or English prompts, music ducked 6-10 dB) on 80 % of the eligible plays
(full or partial, not crossfaded, > 40 s). Prints, per talk-over play, where the fingerprints alone
started it, where the talk-over refinement put it, and the truth; then median and p95 of the absolute
start errors (target: median <= 1 s, p95 <= 3 s), and the same for plays *without* talk-over that
start mid-track after other audio (those must not be pulled early).

`--heldout DIR` prints the same table for a held-out set already built by `airplay_heldout` (scoring
only: nothing here is tuned on it). Fingerprints are cached next to the audio (`*.fp.pkl`).
"""

from __future__ import annotations

import argparse
import copy
import json
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np

from pige_pipeline.airplay import matcher
from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.fine_presence import SamplesAudio
from pige_pipeline.airplay.fingerprint import fingerprint_rows
from pige_pipeline.airplay.index import update_index
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from pige_pipeline.testing.airplay_evalset import TUNING_PROGRAMME, build

TALK_OVER_PROGRAMME = replace(
    TUNING_PROGRAMME, talk_over="intro", talk_over_p=0.8, talk_over_s=(8.0, 25.0), duck_db=(6.0, 10.0)
)


def station_rows(path: Path) -> list[dict]:
    """The station's `fingerprints` rows (one piece), cached beside the audio."""
    cache = path.with_suffix(".fp.pkl")
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    rows = fingerprint_rows([(0.0, decode_mono(path, ANALYSIS_SAMPLE_RATE))], ANALYSIS_SAMPLE_RATE)
    cache.write_bytes(pickle.dumps(rows))
    return rows


def detect(index, rows: list[dict], path: Path | None = None) -> tuple[list, list]:
    """(plays as the fingerprints alone found them, plays after the talk-over refinement).

    `path`: the station's audio, decoded for the notes test (`fine_presence`); None leaves it out."""
    seen: list = []
    original = matcher.extend_over_talk

    def spy(plays, *args, **kwargs):
        seen.extend(copy.deepcopy(plays))
        return original(plays, *args, **kwargs)

    matcher.extend_over_talk = spy
    try:
        audio = None
        if path is not None:
            samples = decode_mono(path, ANALYSIS_SAMPLE_RATE)
            audio = SamplesAudio([(0.0, samples)], index)
        plays = matcher.match_fingerprint_rows(index, rows, audio=audio)
    finally:
        matcher.extend_over_talk = original
    return seen, plays


def _same(p, t: dict) -> bool:
    if p.track_id != t["track_id"]:
        return False
    ov = min(p.end_s, t["end_s"]) - max(p.start_s, t["start_s"])
    return ov >= 0.5 * min(p.duration_s, t["end_s"] - t["start_s"])


def table(truth: dict, index, label: str) -> dict:
    talk, joins = [], []
    for st in truth["stations"]:
        rows = station_rows(Path(st["path"]))
        before, after = detect(index, rows, Path(st["path"]))
        for t in st["plays"]:
            found = [p for p in after if _same(p, t)]
            if not found:
                continue
            play = min(found, key=lambda p: abs(p.start_s - t["start_s"]))
            raw = [p for p in before if p.track_id == play.track_id and abs(p.end_s - play.end_s) < 30]
            raw_start = min((p.start_s for p in raw), key=lambda s: abs(s - play.start_s), default=np.nan)
            err = play.start_s - t["start_s"]
            if "talk_over" in t["kind"]:
                talk.append(err)
                print(
                    f"  {label} {st['name']:<18} {t['track_id']} {t['kind']:<20} truth {t['start_s']:7.2f} "
                    f"fingerprints {raw_start:7.2f} refined {play.start_s:7.2f}  error {err:+6.2f}"
                )
            elif t["ref_offset_s"] > 0 and t["kind"] != "crossfade":
                joins.append(err)
    out = {}
    for name, errs in (("talk_over", talk), ("mid_track_joins", joins)):
        a = np.abs(errs)
        if len(a):
            out[name] = {
                "n": len(a),
                "median_abs_s": float(np.median(a)),
                "p95_abs_s": float(np.percentile(a, 95)),
                "max_abs_s": float(a.max()),
                "within_1s": float(np.mean(a <= 1)),
                "within_3s": float(np.mean(a <= 3)),
                "signed": [round(float(e), 2) for e in errs],
            }
            print(
                f"{label} {name}: n {len(a)}, median |error| {np.median(a):.2f} s, p95 "
                f"{np.percentile(a, 95):.2f} s, max {a.max():.2f} s, within 1 s {np.mean(a <= 1):.0%}, "
                f"within 3 s {np.mean(a <= 3):.0%}"
            )
    return out


def load_set(out: Path, minutes: float | None = None, seed: int | None = None) -> tuple[dict, object]:
    truth_path = out / "truth.json"
    if not truth_path.exists():
        if minutes is None:
            raise SystemExit(f"{truth_path} is missing: build the set first")
        build(out, minutes, seed, TALK_OVER_PROGRAMME)
    truth = json.loads(truth_path.read_text())
    index = update_index(load_catalogue(Path(truth["catalogue"])), out / "state", persist=False).index
    return truth, index


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("/tmp/pige-airplay-talkover"))
    parser.add_argument("--heldout", type=Path, action="append", default=[], help="score a held-out set too")
    parser.add_argument("--no-tuning", action="store_true", help="only the --heldout sets")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    report = {}
    if not args.no_tuning:
        truth, index = load_set(args.out, args.minutes, args.seed)
        report["tuning"] = table(truth, index, "tuning")
    for i, path in enumerate(args.heldout):
        truth, index = load_set(path)
        report[f"heldout{i}"] = table(truth, index, f"heldout{i}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
