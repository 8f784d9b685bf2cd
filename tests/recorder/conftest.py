"""Real Icecast, real ffmpeg sources and a recorder running in a thread, for the recorder tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pige_pipeline.testing.icecast import IcecastServer
from pige_pipeline.testing.sources import singularity_tracks


@pytest.fixture(scope="session")
def stream_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """90 s of real music (singularity-music, CC BY-SA 3.0) as 128 kb/s stereo MP3, as stations send it."""
    out = tmp_path_factory.mktemp("streams") / "music.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(singularity_tracks()[1]), "-t", "90",
         "-ac", "2", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.fixture
def ice() -> Iterator[IcecastServer]:
    with IcecastServer() as server:
        yield server
