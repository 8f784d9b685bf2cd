"""`pige record` killed with SIGKILL: its ffmpegs record on, and the next recorder adopts or stops them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pige_pipeline.recorder.orphans import salvage_orphans
from pige_pipeline.recorder.state import pid_alive
from pige_pipeline.testing.icecast import IcecastServer

from .helpers import gaps, spans, write_yaml

PIGE = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "pige")


def _record(
    data_root: Path, stations: Path, *extra: str, stdout: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PIGE, "record", "--data-root", str(data_root), "--stations", str(stations),
         "--segment-seconds", "5", "--backoff-max", "1", *extra],
        stdout=stdout, stderr=subprocess.PIPE,
    )  # fmt: skip


def _running(pid: int) -> bool:
    """Alive and not a zombie (the test runner is not its parent, so nobody reaps it at once)."""
    stat = Path(f"/proc/{pid}/stat")
    return pid_alive(pid) and stat.exists() and stat.read_text().split()[2] != "Z"


def _kill_mid_segment(
    data_root: Path, recorder: subprocess.Popen[bytes], station: str
) -> tuple[datetime, int]:
    """SIGKILL `recorder` mid-segment once it has published; returns (when, the station's ffmpeg pid)."""
    deadline = time.monotonic() + 30
    while not list((data_root / "chunks").rglob("*.mp3")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(5.5 - time.time() % 5)  # into the middle of a segment
    killed = datetime.now(UTC)
    recorder.send_signal(signal.SIGKILL)
    recorder.wait(10)
    [session] = list((data_root / "recorder" / "incoming" / station).iterdir())
    return killed, json.loads((session / "session.json").read_text())["ffmpeg_pid"]


@pytest.mark.slow
def test_sigkill_then_restart_adopts_the_running_ffmpeg_and_loses_nothing(
    tmp_path: Path, ice: IcecastServer, stream_mp3: Path
) -> None:
    data_root = tmp_path / "data"
    ice.add_source("/crash.mp3", stream_mp3)
    stations = write_yaml(
        tmp_path / "stations.yaml", [{"id": "crash", "name": "Crash", "stream_url": ice.url("/crash.mp3")}]
    )
    first = _record(data_root, stations)
    killed, ffmpeg_pid = _kill_mid_segment(data_root, first, "crash")

    # No recorder runs, and the station is still being recorded: its ffmpeg outlived the recorder.
    time.sleep(4)
    assert _running(ffmpeg_pid), "ffmpeg died with its recorder"
    assert not list((data_root / "chunks").rglob(".*"))  # no temporary file in the store
    assert spans(data_root, "crash")[-1][1] < killed  # nothing published while no recorder ran

    restarted = datetime.now(UTC)
    second = _record(data_root, stations, "--duration", "9", stdout=subprocess.PIPE)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()
    assert f"adopted ffmpeg {ffmpeg_pid}".encode() in out, out.decode()

    # The adopter stopped it at its own end (SIGINT), published its last segment and cleaned staging.
    assert not _running(ffmpeg_pid)
    assert not any((data_root / "recorder" / "incoming" / "crash").iterdir())
    after = sorted(spans(data_root, "crash"))
    # One unbroken recording across the kill: no hole between chunks, and no gap logged.
    holes = [(b[0] - a[1]).total_seconds() for a, b in zip(after, after[1:], strict=False)]
    listing = [(a.isoformat(), round((b - a).total_seconds(), 3), p.name) for a, b, p in after]
    assert max(abs(h) for h in holes) < 0.6, (holes, killed.isoformat(), listing, err.decode()[-3000:])
    assert after[0][0] < killed and after[-1][1] > restarted + timedelta(seconds=5)
    assert gaps(data_root, "crash", killed) == []


@pytest.mark.slow
def test_an_orphan_of_a_removed_station_is_stopped_and_salvaged(
    tmp_path: Path, ice: IcecastServer, stream_mp3: Path
) -> None:
    data_root = tmp_path / "data"
    ice.add_source("/gone.mp3", stream_mp3)
    ice.add_source("/kept.mp3", stream_mp3)
    both = [
        {"id": "gone", "name": "Gone", "stream_url": ice.url("/gone.mp3")},
        {"id": "kept", "name": "Kept", "stream_url": ice.url("/kept.mp3")},
    ]
    stations = write_yaml(tmp_path / "stations.yaml", both)
    first = _record(data_root, stations)
    killed, gone_pid = _kill_mid_segment(data_root, first, "gone")

    write_yaml(stations, both[1:])  # "gone" is removed while no recorder runs
    time.sleep(4)
    second = _record(data_root, stations, "--duration", "6")
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()
    # Nobody adopts the orphan: the new recorder stops it and publishes what it recorded meanwhile.
    assert not _running(gone_pid)
    assert not any((data_root / "recorder" / "incoming" / "gone").iterdir())
    # It recorded on for at least 4 s after the kill; a loaded machine can leave ffmpeg up to ~1 s behind
    # the stream when it is stopped, and 2 s of audio after the kill can only have come from salvage.
    after = spans(data_root, "gone")
    listing = [(a.isoformat(), round((b - a).total_seconds(), 3), p.name) for a, b, p in after]
    assert after[-1][1] > killed + timedelta(seconds=2), (killed.isoformat(), listing, err.decode()[-3000:])


def test_salvage_leaves_a_live_recorders_new_session_alone(tmp_path: Path, stream_mp3: Path) -> None:
    # A restarted recorder salvages while its own stations start: a session of its own, created an
    # instant before its session.json, must not be taken for a dead recorder's leftovers.
    session = tmp_path / "recorder" / "incoming" / "alpha" / "host-42-abcdef-00001"
    session.mkdir(parents=True)
    (session / "20260301T100000Z.mp3").write_bytes(stream_mp3.read_bytes())
    assert salvage_orphans(tmp_path, {"host-42-abcdef"}) == []
    assert (session / "20260301T100000Z.mp3").exists()
    # Once that recorder is gone, the same session is salvaged into the store.
    [published] = salvage_orphans(tmp_path, set())
    assert published.is_file() and not session.exists()
