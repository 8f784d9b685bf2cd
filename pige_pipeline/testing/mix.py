"""Programmes for tests: pieces of real recordings, and digital silence, cut and joined into one MP3."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Piece:
    """`seconds` of `source` from `start_s`; digital zero when `source` is None."""

    source: Path | None
    start_s: float
    seconds: float


def concat_mp3(dest: Path, pieces: list[Piece], *, sample_rate: int = 22050, bitrate: str = "64k") -> Path:
    """Join `pieces` into one mono MP3 at `bitrate`, as a recorder stores a low-bitrate station."""
    args, labels = [], []
    for i, piece in enumerate(pieces):
        if piece.source is None:
            args += ["-f", "lavfi", "-t", str(piece.seconds), "-i", f"anullsrc=r={sample_rate}:cl=mono"]
        else:
            args += ["-ss", str(piece.start_s), "-t", str(piece.seconds), "-i", str(piece.source)]
        labels.append(f"[{i}:a]aresample={sample_rate},aformat=channel_layouts=mono[a{i}]")
    graph = ";".join(labels) + ";" + "".join(f"[a{i}]" for i in range(len(pieces)))
    graph += f"concat=n={len(pieces)}:v=0:a=1"
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args, "-filter_complex", graph,
         "-c:a", "libmp3lame", "-b:a", bitrate, "-f", "mp3", str(dest)],
        check=True,
    )  # fmt: skip
    return dest
