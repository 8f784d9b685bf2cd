"""Reading back what the recorder wrote: chunk spans and the latest line of each gap."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from pige_pipeline.audio.probe import probe_audio
from pige_pipeline.gaps import Gap, read_gaps
from pige_pipeline.recorder.core import Recorder, StationStats
from pige_pipeline.store import list_chunks


def spans(data_root: Path, station: str) -> list[tuple[datetime, datetime, Path]]:
    """(start, end, path) of every chunk in the store, each probed with ffprobe (fails if unreadable)."""
    found = []
    for chunk in list_chunks(data_root, station):
        info = probe_audio(chunk.path)
        found.append((chunk.start, chunk.start + timedelta(seconds=info.duration_s), chunk.path))
    return found


def gaps(data_root: Path, station: str, around: datetime) -> list[Gap]:
    return read_gaps(data_root, station, around - timedelta(hours=2), around + timedelta(hours=2))


def near(a: datetime, b: datetime, tolerance_s: float) -> bool:
    return abs((a - b).total_seconds()) <= tolerance_s


def write_yaml(path: Path, stations: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"stations": stations}, sort_keys=False), encoding="utf-8")
    return path


class Background:
    """A recorder running in a thread; `finish()` stops it and returns its stats."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.stats: dict[str, StationStats] = {}
        self.events: list[str] = []
        recorder.on_event = self.events.append
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.stats = self.recorder.run()

    def finish(self, timeout_s: float = 30) -> dict[str, StationStats]:
        self.recorder.stop()
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "the recorder did not stop"
        return self.stats
