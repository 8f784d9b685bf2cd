"""The demo's Icecast and its ffmpeg source die with the process that started them, and a taken port
stops the demo at once with the port and its holder named.

A CI run once left the live demo test's icecast2 behind, reparented to init, holding port 8765: the
next run's Icecast could not bind, the stale server answered the start-up check, and the demo's
source was refused with no word about why. Real processes on free ports (not 8765, which a demo
running beside these tests may hold); a few seconds in all.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pige_pipeline.demo.run import DEMO_STATION, demo_icecast
from pige_pipeline.settings import REPO_ROOT
from pige_pipeline.testing.icecast import IcecastError, IcecastServer, free_port
from pige_pipeline.testing.procs import PortInUseError, pid_gone, port_is_free
from tests.demo.support import demo_environment

# The demo's Icecast started as start_ui starts it, in a child that then waits to be killed.
ICECAST_CHILD = (
    "import sys, time\nfrom pathlib import Path\nfrom pige_pipeline.demo.run import demo_icecast\n"
    "with demo_icecast(Path(sys.argv[1]), int(sys.argv[2])) as ice:\n"
    "    source = ice.sources['/" + DEMO_STATION + ".mp3'].process\n"
    "    print(ice.pid, source.pid, ice.workdir, flush=True)\n"
    "    time.sleep(600)\n"
)
# Something else on the port: a plain listening socket in another process.
HOLDER = (
    "import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
    "print(s.getsockname()[1], flush=True)\ntime.sleep(600)\n"
)


def _line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"the child said nothing within {timeout_s} s (exit {proc.returncode}):\n{err[-3000:]}")
    return line


@pytest.fixture
def programme(tmp_path: Path) -> Path:
    path = tmp_path / "programme.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=5",
         "-c:a", "libmp3lame", "-b:a", "64k", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture
def holder() -> Iterator[tuple[subprocess.Popen[str], int]]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        yield proc, int(_line(proc, 30))
    finally:
        proc.kill()
        proc.wait(10)


def test_a_sigkilled_demo_takes_its_icecast_and_source_with_it(programme: Path) -> None:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-c", ICECAST_CHILD, str(programme), str(port)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    icecast_pid = source_pid = 0
    workdir = None
    try:
        icecast, source, workdir = _line(child, 60).split()
        icecast_pid, source_pid = int(icecast), int(source)
        assert not pid_gone(icecast_pid) and not pid_gone(source_pid)
        assert not port_is_free(port)
        os.kill(child.pid, signal.SIGKILL)  # no finally, no atexit, no __exit__ runs in the child
        child.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (
            pid_gone(icecast_pid) and pid_gone(source_pid) and port_is_free(port)
        ):
            time.sleep(0.05)
        assert pid_gone(icecast_pid), f"icecast2 (pid {icecast_pid}) outlived the demo killed by SIGKILL"
        assert pid_gone(source_pid), f"the ffmpeg source (pid {source_pid}) outlived the demo"
        assert port_is_free(port), f"port {port} is still taken after the demo died"
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait(10)
        for pid in (icecast_pid, source_pid):  # only if the test failed: ours, stopped by pid
            if pid and not pid_gone(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)  # the killed child could not remove it


def test_an_icecast_that_did_not_answer_in_time_is_not_left_running() -> None:
    # The leak CI hit: start() raised "did not answer" with icecast2 still running, and `with` (or
    # start_ui's ExitStack) calls no __exit__ when __enter__ raises, so nothing ever stopped it.
    ice = IcecastServer(port=free_port())
    try:
        with pytest.raises(IcecastError, match="did not answer"):
            ice.start(timeout_s=0)
        assert not ice.running and ice.pid is None
        left = [
            pid
            for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
            if str(ice.workdir) in _cmdline(pid) and not pid_gone(pid)
        ]
        assert not left, f"icecast2 left running after a failed start: {left}"
        assert port_is_free(ice.port)
    finally:
        ice.close()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_a_taken_port_names_its_holder(programme: Path, holder: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = holder
    started = time.monotonic()
    with pytest.raises(PortInUseError) as caught, demo_icecast(programme, port):
        pytest.fail("the demo's Icecast started on a taken port")
    assert time.monotonic() - started < 3, "a taken port must fail at once, not after Icecast's start-up"
    message = str(caught.value)
    assert f"port {port} " in message and f"pid {proc.pid} " in message, message
    assert "pige demo --no-live" in message, message
    assert caught.value.port == port and [pid for pid, _ in caught.value.holders] == [proc.pid]
    assert "socket.socket()" in caught.value.holders[0][1]  # its command line


def test_the_demo_stops_at_once_on_a_taken_icecast_port(
    tmp_path: Path, holder: tuple[subprocess.Popen[str], int]
) -> None:
    proc, port = holder
    ui_port = free_port()
    code = (
        "import sys\nfrom pige_pipeline.demo.run import start_ui\n"
        "from pige_pipeline.settings import PigeSettings\n"
        "start_ui(PigeSettings.from_env(), int(sys.argv[1]), live=True, icecast_port=int(sys.argv[2]))"
    )
    env = demo_environment(tmp_path / "data", tmp_path / "dagster_home")
    ui = subprocess.Popen(
        [sys.executable, "-c", code, str(ui_port), str(port)], cwd=REPO_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = ui.communicate(timeout=60)
    finally:
        if ui.poll() is None:  # it went on to start the UI: stop all of it
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait(10)
    assert ui.returncode != 0, out + err
    assert "starting the Dagster UI" not in out, out
    assert f"PortInUseError: port {port} on 127.0.0.1 is already in use" in err, err[-3000:]
    assert f"pid {proc.pid} " in err, err[-3000:]
    assert port_is_free(ui_port)
