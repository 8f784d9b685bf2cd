"""A full disk while recording: the station's thread keeps retrying, and the gap is not forgotten."""

import errno
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from pige_pipeline.gaps import read_gaps
from pige_pipeline.recorder import core
from pige_pipeline.recorder.core import RecorderConfig, StationRecorder
from pige_pipeline.stations import Station


def test_station_thread_survives_enospc_and_writes_the_gap_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    station = Station(id="alpha", name="Alpha", stream_url="http://127.0.0.1:9/alpha.mp3")
    config = RecorderConfig(segment_seconds=10, backoff_initial_s=0.01, backoff_max_s=0.05)
    # The station thread only needs these of its Recorder here (no process-level restart to log).
    owner = SimpleNamespace(config=config, data_root=tmp_path, log_recorder_down=lambda *args: None)
    rec = StationRecorder(owner, station)

    real_append = core.append_gap
    disk_full = {"on": True}

    def append(data_root: Path, gap: core.Gap) -> None:
        if disk_full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(data_root, gap)

    monkeypatch.setattr(core, "append_gap", append)
    sessions: list[int] = []

    def session() -> float:
        sessions.append(1)
        if len(sessions) < 3:
            raise OSError(errno.ENOSPC, "No space left on device")  # ffmpeg's output cannot be written
        disk_full["on"] = False  # room again: audio comes back and closes the outage
        rec._on_first_audio(datetime.now(UTC))
        rec.stop_event.set()
        return 0.0

    monkeypatch.setattr(rec, "_session", session)
    rec.run()  # in this thread: returns only if the loop survived the errors

    assert len(sessions) == 3
    gaps = read_gaps(tmp_path, "alpha", datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
    assert len(gaps) == 1 and gaps[0].end is not None
    assert "No space left" in gaps[0].detail


def test_an_empty_segment_is_never_published(tmp_path: Path) -> None:
    staged = tmp_path / "incoming" / "20261122T100000Z.mp3"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"")
    start = datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert core.publish_segment(staged, tmp_path, "alpha", start, 10.0) is None
    assert not (tmp_path / "chunks").exists()
