"""Long commands draw a progress bar with an ETA on a terminal, and nothing in a pipe or under CI."""

from __future__ import annotations

import errno
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pige_pipeline.testing.sources import singularity_tracks

PIGE = str(Path(sys.executable).parent / "pige")


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 8-s excerpts of real music and their catalogue.csv."""
    root = tmp_path_factory.mktemp("progress")
    lines = ["track_id,title,artist,isrc,path"]
    for i, source in enumerate(singularity_tracks()[:3]):
        dest = root / f"t{i}.flac"
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-ss",
                "20",
                "-t",
                "8",
                "-i",
                str(source),
                str(dest),
            ],
            check=True,
        )
        lines.append(f"T{i},Track {i},Singularity,,{dest.name}")
    (root / "catalogue.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PIGE_PROGRESS"}}
    env.update(extra, COLUMNS="160")
    return env


def _in_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command with stdout and stderr on a pseudo-terminal, as in an engineer's shell."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError as exc:  # EIO: the command ended and closed its side
            if exc.errno != errno.EIO:
                raise
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    text = b"".join(chunks).decode(errors="replace")
    return proc.wait(timeout=120), re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # colours and cursor moves


def _index(catalogue: Path, data_root: Path) -> list[str]:
    return [
        PIGE,
        "catalogue",
        "index",
        "--catalogue",
        str(catalogue / "catalogue.csv"),
        "--data-root",
        str(data_root),
    ]


def test_catalogue_index_shows_a_bar_with_an_eta_on_a_terminal(catalogue: Path, tmp_path: Path) -> None:
    code, out = _in_terminal(_index(catalogue, tmp_path / "data"), _env())
    assert code == 0, out
    assert "fingerprinting catalogue" in out and "ETA" in out
    assert "3/3 tracks" in out, out
    assert "3 tracks indexed (3 fingerprinted, 0 unchanged)" in out


def test_catalogue_index_is_plain_in_a_pipe_and_under_ci(catalogue: Path, tmp_path: Path) -> None:
    piped = subprocess.run(_index(catalogue, tmp_path / "a"), env=_env(), capture_output=True, text=True)
    assert piped.returncode == 0, piped.stderr
    assert "3 tracks indexed" in piped.stdout
    assert "ETA" not in piped.stdout + piped.stderr and "\r" not in piped.stderr
    code, out = _in_terminal(_index(catalogue, tmp_path / "b"), _env(CI="true"))
    assert code == 0, out
    assert "3 tracks indexed" in out and "ETA" not in out
