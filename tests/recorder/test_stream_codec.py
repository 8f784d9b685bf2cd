"""A restarted recorder starts ffmpeg with the codec its last run found, corrected if the stream changed."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path

import pytest

from pige_pipeline.recorder import station_loop
from pige_pipeline.recorder.formats import (
    StreamCodec,
    formats_dir,
    read_stream_codec,
    write_stream_codec,
)
from pige_pipeline.recorder.multi_station import Recorder
from pige_pipeline.recorder.publish import incoming_dir
from pige_pipeline.recorder.station_loop import RecorderConfig
from pige_pipeline.stations import Station
from pige_pipeline.testing.icecast import IcecastServer
from pige_pipeline.testing.sources import singularity_tracks

from .helpers import Background, spans

SECRET = "hunter22"


def test_the_codec_record_is_keyed_by_url_and_keeps_no_password(tmp_path: Path) -> None:
    url = f"http://pige:{SECRET}@radio.example/live.mp3"
    assert read_stream_codec(tmp_path, "a", url) is None
    write_stream_codec(tmp_path, "a", url, StreamCodec("mp3", True))
    assert read_stream_codec(tmp_path, "a", url) == StreamCodec("mp3", True)
    assert SECRET not in (formats_dir(tmp_path) / "a.json").read_text()
    # A station moved to another URL is asked afresh; a damaged record is ignored, not an error.
    assert read_stream_codec(tmp_path, "a", "http://radio.example/other.mp3") is None
    (formats_dir(tmp_path) / "a.json").write_text("{not json")
    assert read_stream_codec(tmp_path, "a", url) is None


def _watch_detection(monkeypatch: pytest.MonkeyPatch, data_root: Path, station: str) -> list[bool]:
    """Calls of the real `detect_codec`, each noting whether an ffmpeg was already running for `station`."""
    seen: list[bool] = []
    real = station_loop.detect_codec

    def detect(url: str, timeout_s: float = 15.0) -> tuple[str | None, str, bool]:
        seen.append(any(incoming_dir(data_root, station).glob("*/session.json")))
        return real(url, timeout_s)

    monkeypatch.setattr(station_loop, "detect_codec", detect)
    return seen


@pytest.mark.slow
def test_restart_uses_last_codec_then_checks_it(
    tmp_path: Path, ice: IcecastServer, stream_mp3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_root = tmp_path / "data"
    ice.add_source("/a.mp3", stream_mp3)
    station = Station(id="a", name="A", stream_url=ice.url("/a.mp3"))
    config = RecorderConfig(segment_seconds=5, backoff_max_s=1.0, heartbeat_s=0.5)
    seen = _watch_detection(monkeypatch, data_root, "a")

    # First run: nothing known, the stream is asked before ffmpeg starts, and the answer kept.
    Recorder(data_root, [station], config, recorder_id="first").run(duration_s=3)
    assert seen == [False]
    assert read_stream_codec(data_root, "a", station.stream_url) == StreamCodec("mp3", True)

    # Second run: ffmpeg starts with the kept codec; the stream is asked beside it, and agrees.
    seen.clear()
    stats = Recorder(data_root, [station], config, recorder_id="second").run(duration_s=7)
    assert seen == [True]
    assert stats["a"].sessions == 1 and stats["a"].seconds > 3


@pytest.mark.slow
def test_a_stream_that_changed_codec_is_recorded_in_its_new_codec(
    tmp_path: Path, ice: IcecastServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ogg = tmp_path / "music.ogg"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(singularity_tracks()[1]), "-t", "60",
         "-c:a", "libvorbis", "-q:a", "2", str(ogg)],
        check=True,
    )  # fmt: skip
    data_root = tmp_path / "data"
    ice.add_source("/a", ogg)
    station = Station(id="a", name="A", stream_url=ice.url("/a"))
    # The last run found MP3 at this URL; the station has since moved to Ogg Vorbis.
    write_stream_codec(data_root, "a", station.stream_url, StreamCodec("mp3", True))
    config = RecorderConfig(segment_seconds=5, backoff_max_s=1.0, heartbeat_s=0.5)
    with caplog.at_level(logging.WARNING):
        bg = Background(Recorder(data_root, [station], config, recorder_id="changed"))
        time.sleep(14)
        bg.finish()

    chunks = spans(data_root, "a")  # each probed: readable audio
    assert chunks and all(path.suffix == ".ogg" for _s, _e, path in chunks)
    assert sum((end - start).total_seconds() for start, end, _ in chunks) > 5
    assert read_stream_codec(data_root, "a", station.stream_url) == StreamCodec("vorbis", False)
    record = json.loads((formats_dir(data_root) / "a.json").read_text())
    assert record["codec"] == "vorbis"
