"""A full disk while recording: the station's thread keeps retrying, and the gap is not forgotten."""

import errno
import logging
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from pige_pipeline.audio.probe import AudioProbeError, probe_audio
from pige_pipeline.recorder import station_loop
from pige_pipeline.recorder.multi_station import Recorder
from pige_pipeline.recorder.publish import held_duration, publish_segment
from pige_pipeline.recorder.station_loop import RecorderConfig, StationRecorder
from pige_pipeline.stations import Station
from pige_pipeline.store.gaps import Gap, read_gaps
from pige_pipeline.testing.icecast import IcecastServer

from .helpers import Background, gaps, spans, timeline
from .test_outages import CollectingSink

SEGMENT_S = 5


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


def _fill(root: Path) -> Path:
    """Write a ballast file until the file system refuses a byte more."""
    ballast = root / "ballast.bin"
    block = b"\0" * (1 << 16)
    with open(ballast, "ab", buffering=0) as handle:  # unbuffered: nothing left to flush at close
        for size in (len(block), 4096, 512, 1):
            while True:
                try:
                    handle.write(block[:size])
                except OSError:
                    break
    return ballast


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: a disk that really fills (skipped where mounting is not allowed)."""
    root = tmp_path / "data"
    root.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "pige-test-disk-full", str(root)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)


def _unlogged_s(lost: list[tuple[datetime, datetime]], logged: list[Gap]) -> list[float]:
    """For each hole in the chunks, the seconds of it that no gap line covers."""
    out = []
    for a, b in lost:
        covered = sum(
            max(0.0, (min(g.end, b) - max(g.start, a)).total_seconds()) for g in logged if g.end is not None
        )
        out.append((b - a).total_seconds() - covered)
    return out


@pytest.mark.slow
def test_a_really_full_disk_loses_no_time_outside_the_gap_log(
    small_disk: Path, ice: IcecastServer, stream_mp3: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The soak's measure: holes over 0.3 s between chunks are losses; the gap log must cover each one
    # to within 1 s. A full disk leaves segments that ffmpeg lists but that hold nothing, or less than
    # listed: the gap must start where the audio really ended.
    caplog.set_level(logging.DEBUG, logger="pige_pipeline.recorder")
    ice.add_source("/full.mp3", stream_mp3)
    station = Station(id="full", name="Full", stream_url=ice.url("/full.mp3"))
    config = RecorderConfig(segment_seconds=SEGMENT_S, backoff_max_s=1.0, heartbeat_s=0.5)
    started = datetime.now(UTC)
    # With a live sink, as `pige record` runs: ffmpeg then has a second output (PCM over UDP) that keeps
    # it running after its segment output failed on the full disk.
    bg = Background(Recorder(small_disk, [station], config, sink=CollectingSink(), recorder_id="disk-full"))
    time.sleep(2 * SEGMENT_S + 1)

    time.sleep((2.5 - time.time() % SEGMENT_S) % SEGMENT_S)  # the disk fills mid-segment
    full_at = datetime.now(UTC)
    ballast = _fill(small_disk)
    time.sleep(10)
    ballast.unlink()
    freed_at = datetime.now(UTC)
    time.sleep(3 * SEGMENT_S)
    bg.finish()

    chunks = spans(small_disk, "full")
    lost = [(a_end, b_start) for (_s, a_end, _p), (b_start, _e, _q) in zip(chunks, chunks[1:], strict=False)]
    lost = [(a, b) for a, b in lost if (b - a).total_seconds() > 0.3]
    logged = gaps(small_disk, "full", started)
    story = f"full {full_at} .. {freed_at}\nlost {lost}\nlogged {logged}\n" + timeline(caplog.records)
    assert lost, story  # the disk was full for 10 s: something was lost
    assert all(u <= 1.0 for u in _unlogged_s(lost, logged)), story
    outage = (freed_at - full_at).total_seconds()
    assert sum((b - a).total_seconds() for a, b in lost) <= outage + SEGMENT_S, story


# -- a session's segments as ffmpeg leaves them on a full disk, followed by the real loop ----------------

T0 = datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)


def _segment(stream_mp3: Path, dest: Path, seconds: float) -> float:
    """A real MP3 segment of `seconds` (stream copy); returns what ffprobe says it holds."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(stream_mp3), "-t", str(seconds),
         "-c", "copy", str(dest)],
        check=True,
    )  # fmt: skip
    return probe_audio(dest).duration_s


def _follow_session(tmp_path: Path, segments: list[tuple[str, float]]) -> tuple[StationRecorder, Path]:
    """Run the station loop's `_follow` over a finished session: `segments` are (name, listed seconds),
    the files already in place; the ffmpeg is a real process that has exited (a stream that ended)."""
    session = tmp_path / "recorder" / "incoming" / "alpha" / "t-00001"
    lines, at = [], 0.0
    for name, listed in segments:
        lines.append(f"{name},{at:.6f},{at + listed:.6f}\n")
        at += listed
    (session / "segments.csv").write_text("".join(lines))
    (session / "ffmpeg.log").write_bytes(b"")
    (session / "session.json").write_text('{"recorder_id": "t"}')
    station = Station(id="alpha", name="Alpha", stream_url="http://127.0.0.1:9/alpha.mp3")
    config = RecorderConfig(segment_seconds=5, poll_s=0.01)
    owner = SimpleNamespace(
        config=config,
        data_root=tmp_path,
        log_recorder_down=lambda *args: None,
        live_recorder_ids=set,
        dispatcher=None,
        recorder_id="t",
    )
    rec = StationRecorder(owner, station)
    # An outage before this ffmpeg, logged open, as the loop leaves it.
    rec._pending_gap = Gap("alpha", T0 - timedelta(minutes=1), None, "stream_lost", "before")
    proc = subprocess.Popen(["true"])
    proc.wait()
    rec._follow(proc, session, T0 - timedelta(seconds=1), None, assumed=None)
    return rec, session


def _gap_log(tmp_path: Path) -> list[tuple[datetime, datetime | None, str]]:
    lo, hi = T0 - timedelta(hours=1), T0 + timedelta(hours=1)
    return [(g.start, g.end if g.end != hi else None, g.cause) for g in read_gaps(tmp_path, "alpha", lo, hi)]


def _incoming(tmp_path: Path) -> Path:
    folder = tmp_path / "recorder" / "incoming" / "alpha" / "t-00001"
    folder.mkdir(parents=True)
    return folder


def _near(a: datetime | None, b: datetime, tolerance_s: float = 0.1) -> bool:
    return a is not None and abs((a - b).total_seconds()) <= tolerance_s


def test_an_empty_listed_segment_holds_nothing_and_the_gap_starts_where_the_audio_ended(
    tmp_path: Path, stream_mp3: Path
) -> None:
    # ffmpeg lists the seconds it received even when the full disk refused every write of a segment.
    incoming = _incoming(tmp_path)
    first = _segment(stream_mp3, incoming / "20260301T100005Z.mp3", 5)
    (incoming / "20260301T100010Z.mp3").write_bytes(b"")
    assert held_duration(incoming / "20260301T100010Z.mp3", 5.0, tmp_path, "alpha") == 0.0
    assert not (incoming / "20260301T100010Z.mp3").exists()

    (incoming / "20260301T100010Z.mp3").write_bytes(b"")
    _follow_session(tmp_path, [("20260301T100005Z.mp3", first), ("20260301T100010Z.mp3", 5.0)])

    boundary = T0 + timedelta(seconds=5)  # the first segment ends where the empty one was opened
    chunks = spans(tmp_path, "alpha")
    assert len(chunks) == 1 and _near(chunks[0][1], boundary)
    (before_start, before_end, _c), (start, end, cause) = _gap_log(tmp_path)
    assert _near(before_end, chunks[0][0])
    # Before the fix the gap started at 10:00:15, the end of the empty segment: 5 s lost, not logged.
    assert _near(start, boundary) and end is None and cause == "stream_lost"


def test_an_empty_first_segment_does_not_close_the_outage(tmp_path: Path, stream_mp3: Path) -> None:
    incoming = _incoming(tmp_path)
    (incoming / "20260301T100005Z.mp3").write_bytes(b"")
    second = _segment(stream_mp3, incoming / "20260301T100010Z.mp3", 5)
    _follow_session(tmp_path, [("20260301T100005Z.mp3", 4.0), ("20260301T100010Z.mp3", second)])

    audio_from = T0 + timedelta(seconds=5)
    chunks = spans(tmp_path, "alpha")
    assert len(chunks) == 1 and _near(chunks[0][0], audio_from)
    (_b, before_end, _c), (start, _end, _cause) = _gap_log(tmp_path)
    assert _near(before_end, audio_from)  # not 4 s earlier, where the empty segment was placed
    assert _near(start, chunks[0][1])


def test_a_short_segment_inside_a_running_ffmpeg_logs_its_hole(tmp_path: Path, stream_mp3: Path) -> None:
    # The disk refused the end of a segment, then had room again: ffmpeg never stopped, so no exit
    # opens a gap; the hole must be logged anyway.
    incoming = _incoming(tmp_path)
    first = _segment(stream_mp3, incoming / "20260301T100005Z.mp3", 5)
    whole = incoming / "20260301T100010Z.mp3"
    listed = _segment(stream_mp3, whole, 5)
    whole.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 5])
    held = held_duration(whole, listed, tmp_path, "alpha")
    assert held == pytest.approx(listed * 2 / 5, abs=0.3)  # what the file holds, not what was listed
    third = _segment(stream_mp3, incoming / "20260301T100015Z.mp3", 5)
    _follow_session(
        tmp_path,
        [("20260301T100005Z.mp3", first), ("20260301T100010Z.mp3", listed), ("20260301T100015Z.mp3", third)],
    )

    chunks = spans(tmp_path, "alpha")
    assert len(chunks) == 3
    holes = [(a_end, b_start) for (_s, a_end, _p), (b_start, _e, _q) in zip(chunks, chunks[1:], strict=False)]
    holes = [(a, b) for a, b in holes if (b - a).total_seconds() > 0.3]
    assert len(holes) == 1
    logged = _gap_log(tmp_path)
    assert [cause for _s, _e, cause in logged] == ["stream_lost", "segment_lost", "stream_lost"]
    hole_start, hole_end, _cause = logged[1]
    assert _near(hole_start, holes[0][0], 0.3) and _near(hole_end, holes[0][1])
    assert _near(logged[2][0], chunks[-1][1])


def test_a_truncated_aac_segment_counts_what_it_holds(tmp_path: Path, stream_mp3: Path) -> None:
    # Not only MP3 (whose header promises the full length): ADTS has no length header at all.
    whole = tmp_path / "20260301T100000Z.aac"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(stream_mp3), "-t", "10", "-c:a", "aac",
         "-b:a", "96k", "-f", "adts", str(whole)],
        check=True,
    )  # fmt: skip
    listed = probe_audio(whole).duration_s
    cut = tmp_path / "20260301T100010Z.aac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 4])
    assert held_duration(cut, listed, tmp_path, "alpha") == pytest.approx(listed / 4, abs=1.0)
