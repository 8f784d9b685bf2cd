"""Build the bad-input corpus and show what pige makes of each file.

    .venv/bin/python -m benchmarks.corpus --out tests/reliability/corpus

Writes every corpus file (generated from real Debian audio with ffmpeg, nothing committed) and prints,
per file, what `probe_audio` says and what `ffmpeg -i X -f null -` decodes. The behaviour the
pipeline must show with each file is tested by `.venv/bin/pytest tests/reliability -q -k corpus`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPO / "tests"))
    from reliability.corpus_files import CORPUS, LONG, build_corpus

    from pige_pipeline.audio.probe import AudioProbeError, probe_audio

    parser = argparse.ArgumentParser(description="Build the bad-input corpus and probe every file.")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "reliability" / "corpus")
    parser.add_argument("--long", action="store_true", help="also build the 3-hour file (~22 MB)")
    args = parser.parse_args(argv)
    files = build_corpus(args.out, with_long=args.long)
    print("| file | what it is | probe | decoded by ffmpeg |")
    print("|---|---|---|---|")
    for item in [*CORPUS, *([LONG] if args.long else [])]:
        path = files[item.name]
        try:
            info = probe_audio(path)
            probe = f"{info.codec}, {info.sample_rate} Hz, {info.channels} ch, {info.duration_s:.1f} s"
        except AudioProbeError as exc:
            probe = "refused: " + str(exc).replace(str(path), "FILE")
        proc = subprocess.run(
            ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-f", "null", "-"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        times = re.findall(r"time=(\d+):(\d+):([\d.]+)", proc.stderr)
        decoded = (
            f"{int(times[-1][0]) * 3600 + int(times[-1][1]) * 60 + float(times[-1][2]):.1f} s"
            if times
            else "-"
        )
        print(f"| {item.name} | {item.what} | {probe} | {decoded if proc.returncode == 0 else 'fails'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
