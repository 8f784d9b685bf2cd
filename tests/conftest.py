"""Fixtures shared by every test: a throwaway data root, a stations file and real audio clips."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

from pige_pipeline.store.chunks import chunk_path
from pige_pipeline.testing.sources import singularity_tracks


@pytest.fixture(scope="session")
def music_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s of real music (singularity-music, CC BY-SA 3.0) as a 64 kb/s MP3."""
    out = tmp_path_factory.mktemp("clips") / "music60.mp3"
    track = singularity_tracks()[0]
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(track), "-t", "60", "-ac", "1", "-ar", "22050",
         "-c:a", "libmp3lame", "-b:a", "64k", str(out)],
        check=True,
    )  # fmt: skip
    return out


def loop_audio(source: Path, seconds: float, dest: Path) -> Path:
    """Make a `seconds`-long file by stream-copying `source` in a loop (fast: no encoding)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(source),
         "-t", f"{seconds}", "-c", "copy", str(dest)],
        check=True,
    )  # fmt: skip
    return dest


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("PIGE_DATA_ROOT", str(root))
    monkeypatch.delenv("PIGE_STATIONS", raising=False)
    monkeypatch.delenv("PIGE_CATALOGUE", raising=False)
    return root


def station_entry(station_id: str, **extra: object) -> dict:
    return {
        "id": station_id,
        "name": station_id.replace("-", " ").title(),
        "stream_url": f"http://127.0.0.1:8000/{station_id}.mp3",
        **extra,
    }


@pytest.fixture
def write_stations(data_root: Path) -> Callable[..., Path]:
    def _write(*station_ids: str, entries: list[dict] | None = None) -> Path:
        path = data_root / "stations.yaml"
        items = entries if entries is not None else [station_entry(s) for s in station_ids]
        path.write_text(yaml.safe_dump({"stations": items}, sort_keys=False), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def put_chunk(data_root: Path, music_clip: Path) -> Callable[..., Path]:
    """Place a real MP3 of `seconds` in the store for (station, start)."""

    def _put(station: str, start: datetime, seconds: float = 3600) -> Path:
        dest = chunk_path(data_root, station, start, "mp3")
        return loop_audio(music_clip, seconds, dest)

    return _put


# Property tests draw the same examples on every run, so CI cannot fail on a case no one has seen;
# `pytest --hypothesis-profile=explore tests/reliability` searches afresh with more examples.
settings.register_profile("ci", max_examples=150, derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=2000, print_blob=True)
settings.load_profile("ci")
