"""`pige record` killed with SIGKILL: no half-written chunk is published; the restart salvages and logs."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pige_pipeline.icecast import IcecastServer
from pige_pipeline.recorder.core import salvage_orphans
from pige_pipeline.recorder.state import pid_alive, read_states

from .helpers import gaps, near, spans, write_yaml

PIGE = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "pige")


def _record(data_root: Path, stations: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PIGE, "record", "--data-root", str(data_root), "--stations", str(stations),
         "--segment-seconds", "5", "--backoff-max", "1", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _running(pid: int) -> bool:
    """Alive and not a zombie (the test runner is not its parent, so nobody reaps it at once)."""
    stat = Path(f"/proc/{pid}/stat")
    return pid_alive(pid) and stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.slow
def test_sigkill_then_restart_salvages_and_logs_the_loss(
    tmp_path: Path, ice: IcecastServer, stream_mp3: Path
) -> None:
    data_root = tmp_path / "data"
    ice.add_source("/crash.mp3", stream_mp3)
    stations = write_yaml(
        tmp_path / "stations.yaml", [{"id": "crash", "name": "Crash", "stream_url": ice.url("/crash.mp3")}]
    )
    first = _record(data_root, stations)
    deadline = time.monotonic() + 30
    while not list((data_root / "chunks").rglob("*.mp3")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(5.5 - time.time() % 5)  # into the middle of a segment
    killed = datetime.now(UTC)
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    # The kernel tells the orphaned ffmpeg (PR_SET_PDEATHSIG), which closes its file and exits.
    sessions = list((data_root / "recorder" / "incoming" / "crash").iterdir())
    assert len(sessions) == 1
    ffmpeg_pid = json.loads((sessions[0] / "session.json").read_text())["ffmpeg_pid"]
    deadline = time.monotonic() + 10
    while _running(ffmpeg_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(ffmpeg_pid), "ffmpeg outlived its recorder"
    leftovers = [p for p in sessions[0].iterdir() if p.suffix == ".mp3"]
    assert leftovers, "the segment being written stays in staging, not in the store"
    before = spans(data_root, "crash")  # every published chunk decodes
    assert not list((data_root / "chunks").rglob(".*"))  # no temporary file in the store
    assert before[-1][1] < killed

    time.sleep(3)
    restarted = datetime.now(UTC)
    second = _record(data_root, stations, "--duration", "9")
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()

    after = spans(data_root, "crash")
    # The leftover was salvaged: audio now reaches the kill, and staging is empty.
    salvaged_end = max(end for _s, end, _p in after if end <= restarted)
    assert near(salvaged_end, killed, 1.5)
    assert not any((data_root / "recorder" / "incoming" / "crash").iterdir())
    # The loss is logged as recorder_down, from the kill to the new recorder's first audio.
    logged = gaps(data_root, "crash", killed)
    assert [g.cause for g in logged] == ["recorder_down"]
    resumed = min(start for start, _e, _p in after if start >= restarted)
    assert near(logged[0].start, killed, 2.0) and near(logged[0].end, resumed, 0.6)
    # Measured from the new recorder's own start: importing the `pige` command can take seconds on
    # a loaded machine, and no recorder runs meanwhile (that time is in the logged gap).
    new_state = max(read_states(data_root), key=lambda s: s.started_at)
    assert new_state.started_at > killed and (resumed - new_state.started_at).total_seconds() < 8


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
