"""Reading back what the recorder wrote: chunk spans and the latest line of each gap."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from pige_pipeline.audio.probe import probe_audio
from pige_pipeline.recorder.multi_station import Recorder
from pige_pipeline.recorder.station_loop import StationStats
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.store.gaps import Gap, read_gaps


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


def serving_since(url: str, timeout_s: float = 20.0) -> datetime:
    """When `url` first delivers audio bytes to a new listener: the end of an outage as a listener sees it.

    A server can answer its status page, and list a mount, a few seconds before the mount serves a
    listener; the recorder cannot be faster than that, so promptness is measured from here.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.read(1024):
                    return datetime.now(UTC)
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} served no audio within {timeout_s} s")


def timeline(records: list[logging.LogRecord]) -> str:
    """Captured log records as timestamped lines, for a failure message."""
    return "\n".join(
        f"{datetime.fromtimestamp(r.created, UTC):%H:%M:%S.%f} {r.levelname} {r.getMessage()}"
        for r in records
    )


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
