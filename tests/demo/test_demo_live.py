"""The demo's live path, which `pige demo --no-ui` skips: Icecast plays the programme, the Dagster UI
starts, its daemon's recorder supervisor launches the recorder run, that run records the stream, and
Ctrl-C publishes what it recorded.

`pige demo` ends in `start_ui` (pige_pipeline/demo/run.py) once the hour is built and processed; here it
starts on a copy of the session's demo data root, so the hour is not built twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pige_pipeline.audio.probe import probe_audio
from pige_pipeline.demo.run import DEMO_ICECAST_PORT, DEMO_STATION
from pige_pipeline.settings import REPO_ROOT
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.testing.icecast import free_port
from tests.demo.support import DemoRun, demo_environment

pytestmark = pytest.mark.slow  # the UI, its daemon, a sensor tick, a launched run: ~1 min on 2 loaded cores
START_UI = (
    "import sys\nfrom pige_pipeline.demo.run import start_ui\n"
    "from pige_pipeline.settings import PigeSettings\n"
    "start_ui(PigeSettings.from_env(), int(sys.argv[1]), live=True)"
)
DEADLINE_S = 300


def _wait(what: str, probe: Callable[[], Any], ui: subprocess.Popen, log: Path, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            found = probe()
            if found:
                return found
        if ui.poll() is not None:
            pytest.fail(f"the demo UI exited ({ui.returncode}) before {what}:\n{log.read_text()[-4000:]}")
        time.sleep(1)
    pytest.fail(f"no {what} within {timeout_s:.0f} s:\n{log.read_text()[-4000:]}")


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
        return json.loads(resp.read())["data"]


def _growing_recording(incoming: Path, sizes: dict[Path, int]) -> Path | None:
    """A staged segment of the demo station that grew since the last look (the recorder is writing it)."""
    for path in incoming.glob("*/*.mp3"):
        size = path.stat().st_size
        grew = size > sizes.get(path, size)
        sizes[path] = size
        if grew:
            return path
    return None


def _recorder_ffmpegs(incoming: Path) -> list[int]:
    """The recorder run's ffmpegs (they outlive a killed recorder by design, so they are stopped by pid)."""
    pids = []
    for info in incoming.glob("*/*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            pids.append(int(json.loads(info.read_text())["ffmpeg_pid"]))
    return pids


def test_the_live_demo_records_its_stream_through_the_daemon(demo_run: DemoRun, tmp_path: Path) -> None:
    root, home = tmp_path / "data", tmp_path / "dagster_home"
    shutil.copytree(demo_run.root, root)
    shutil.copytree(demo_run.dagster_home, home)
    port = free_port()
    started = datetime.now(UTC) - timedelta(seconds=1)
    env = demo_environment(root, home)
    log = tmp_path / "ui.log"
    incoming = root / "recorder" / "incoming" / DEMO_STATION
    with log.open("wb") as out:
        # Its own session: the UI's webserver, daemon, code server and launched runs are stopped together.
        ui = subprocess.Popen(
            [sys.executable, "-c", START_UI, str(port)], cwd=REPO_ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        # The UI answers: the webserver's GraphQL endpoint, and the demo's definitions are loaded.
        version = _wait("Dagster webserver", lambda: _graphql(port, "{ version }")["version"], ui, log, 180)
        assert version
        text = log.read_text()
        assert (
            f"Icecast plays the programme live at http://127.0.0.1:{DEMO_ICECAST_PORT}/{DEMO_STATION}.mp3"
            in (text)
        ), text[-3000:]
        # The daemon's recorder supervisor launched the recorder run, which records the live stream.
        sizes: dict[Path, int] = {}
        segment = _wait(
            "recording of the live stream", lambda: _growing_recording(incoming, sizes), ui, log, DEADLINE_S
        )
        runs = _graphql(
            port, "{ runsOrError { ... on Runs { results { jobName status tags { key value } } } } }"
        )
        launched = [r for r in runs["runsOrError"]["results"] if r["status"] == "STARTED"]
        assert launched, runs
        assert any(
            t["key"] == "dagster/sensor_name" and t["value"] == "recorder_supervisor"
            for r in launched
            for t in r["tags"]
        ), launched
        assert segment.parent.parent == incoming
    finally:
        ffmpegs = _recorder_ffmpegs(incoming)
        # Ctrl-C, as a user stops the demo: the UI stops its runs, the demo stops Icecast and its source.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGINT)
        try:
            ui.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait(10)
        for pid in ffmpegs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    # Stopping the demo closed the live recording and published it: a readable chunk of this session.
    recorded = [c for c in list_chunks(root, DEMO_STATION) if c.start >= started]
    assert recorded, log.read_text()[-3000:]
    assert (probe_audio(recorded[-1].path).duration_s or 0) > 1
