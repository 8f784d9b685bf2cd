"""A full disk while recording: the station's thread keeps retrying, and the gap is not forgotten."""

import errno
import logging
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from pige_pipeline.audio.probe import AudioProbeError, probe_audio
from pige_pipeline.recorder import station_loop
from pige_pipeline.recorder.publish import held_duration, publish_segment
from pige_pipeline.recorder.station_loop import RecorderConfig, StationRecorder
from pige_pipeline.stations import Station
from pige_pipeline.store.gaps import Gap, read_gaps


def test_station_thread_survives_enospc_and_writes_the_gap_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    station = Station(id="alpha", name="Alpha", stream_url="http://127.0.0.1:9/alpha.mp3")
    config = RecorderConfig(segment_seconds=10, backoff_initial_s=0.01, backoff_max_s=0.05)
    # The station thread only needs these of its Recorder here (no process-level restart to log).
    owner = SimpleNamespace(
        config=config, data_root=tmp_path, log_recorder_down=lambda *args: None, live_recorder_ids=set
    )
    rec = StationRecorder(owner, station)

    real_append = station_loop.append_gap
    disk_full = {"on": True}

    def append(data_root: Path, gap: Gap) -> None:
        if disk_full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(data_root, gap)

    monkeypatch.setattr(station_loop, "append_gap", append)
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
    assert publish_segment(staged, tmp_path, "alpha", start, 10.0) is None
    assert not (tmp_path / "chunks").exists()


def test_a_segment_cut_short_by_the_disk_counts_what_it_holds(tmp_path: Path, stream_mp3: Path) -> None:
    # ffmpeg lists the seconds it received; a full disk may have refused the end of them.
    whole = tmp_path / "20260301T100000Z.mp3"
    whole.write_bytes(stream_mp3.read_bytes())
    listed = probe_audio(whole).duration_s
    assert held_duration(whole, listed, tmp_path, "alpha") == listed

    cut = tmp_path / "20260301T100010Z.mp3"
    cut.write_bytes(stream_mp3.read_bytes()[: whole.stat().st_size // 3])
    held = held_duration(cut, listed, tmp_path, "alpha")
    assert held == pytest.approx(listed / 3, abs=1.0) and cut.exists()

    text = tmp_path / "20260301T100020Z.mp3"
    text.write_text("not audio at all\n" * 200)
    assert held_duration(text, listed, tmp_path, "alpha") == 0.0
    assert not text.exists()  # never published, never deleted: moved aside
    assert (tmp_path / "recorder" / "rejected" / "alpha" / text.name).exists()


def test_a_segment_closed_before_its_first_frames_is_dropped_quietly(
    tmp_path: Path, stream_mp3: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A station stopped just after a clock boundary leaves a segment with headers and one frame.
    sliver = tmp_path / "20260301T100030Z.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(stream_mp3), "-c", "copy", "-frames:a", "1",
         "-f", "mp3", str(sliver)],
        check=True,
    )  # fmt: skip
    with pytest.raises(AudioProbeError):
        probe_audio(sliver)
    with caplog.at_level(logging.INFO):
        assert held_duration(sliver, 0.03, tmp_path, "alpha") == 0.0
    assert not sliver.exists() and not (tmp_path / "recorder" / "rejected").exists()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
