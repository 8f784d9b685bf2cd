"""What the decoded-audio checks cost one held-out station: detection with and without them.

    .venv/bin/python -m benchmarks.airplay_notes_cost --out /tmp/pige-airplay-heldout-b [--station aac48]
        [--repeat 3]

On a held-out set already built by `benchmarks.airplay_heldout`, for one station, `--repeat` times:
ffmpeg's plain decode of the file (the floor), the decode to 11025 Hz, `fingerprint_rows`, and
`match_fingerprint_rows` without audio (the stored figures alone) and with the samples in memory (the
talk-over notes test and the middling-play check, `fine_presence`, `notes_check`). CPU seconds of this
process and its ffmpeg children; prints each repeat and the medians of the two ratios to the plain
decode (the issue's target: detection <= 2x).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
from pathlib import Path

from pige_pipeline.airplay import fingerprint_rows, notes_check, talkover
from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.fine_presence import SamplesAudio
from pige_pipeline.airplay.index import update_index
from pige_pipeline.airplay.matcher import match_fingerprint_rows
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _both() -> float:
    return _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a held-out set built by airplay_heldout")
    parser.add_argument("--station", default="aac48")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    truth = json.loads((args.out / "truth.json").read_text())
    index = update_index(load_catalogue(Path(truth["catalogue"])), args.out / "state", persist=False).index
    station = next(s for s in truth["stations"] if s["name"] == args.station)
    calls = {"talk-over notes tests": 0, "middling plays checked": 0}
    heard, in_play = talkover._notes_heard, notes_check.notes_in_play

    def count_heard(*a: object, **k: object) -> object:
        calls["talk-over notes tests"] += 1
        return heard(*a, **k)

    def count_in_play(*a: object, **k: object) -> object:
        calls["middling plays checked"] += 1
        return in_play(*a, **k)

    talkover._notes_heard, notes_check.notes_in_play = count_heard, count_in_play
    with_audio, without = [], []
    for repeat in range(args.repeat):
        c0 = _cpu(resource.RUSAGE_CHILDREN)
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", station["path"], "-f", "null", "-"], check=True
        )
        plain = _cpu(resource.RUSAGE_CHILDREN) - c0
        c0 = _both()
        samples = decode_mono(Path(station["path"]), ANALYSIS_SAMPLE_RATE)
        decode = _both() - c0
        c0 = _both()
        rows = fingerprint_rows([(0.0, samples)], ANALYSIS_SAMPLE_RATE)
        prints = _both() - c0
        c0 = _both()
        match_fingerprint_rows(index, rows)
        stored = _both() - c0
        c0 = _both()
        match_fingerprint_rows(index, rows, audio=SamplesAudio([(0.0, samples)], index))
        decoded = _both() - c0
        without.append((decode + prints + stored) / plain)
        with_audio.append((decode + prints + decoded) / plain)
        print(
            f"{args.station} repeat {repeat + 1}: plain decode {plain:.2f} s, to 11025 Hz {decode:.2f} s, "
            f"fingerprints {prints:.2f} s, match {stored:.2f} s without audio / {decoded:.2f} s with; "
            f"detection {with_audio[-1]:.2f}x plain decode ({without[-1]:.2f}x without audio)",
            flush=True,
        )
    per_run = {name: n // args.repeat for name, n in calls.items()}
    print(
        f"{args.station}: median {statistics.median(with_audio):.2f}x with the decoded-audio checks, "
        f"{statistics.median(without):.2f}x without; per run: {per_run}"
    )


if __name__ == "__main__":
    main()
