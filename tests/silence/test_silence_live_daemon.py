"""Live alerts end to end with the daemon (issue 17): a real Icecast source, the recorder run that a real
`dagster-daemon` launches from its `recorder_supervisor` sensor (switched on with
PIGE_RECORDER_AUTOSTART=1), a 20 s loss mailed within a minute to a real SMTP server on loopback, the
all-clear when the audio returns, and then the hour's `dead_air_alerts`, which must not mail it again.

Everything runs in tmp_path: the DAGSTER_HOME (the repository's dagster.yaml: SQLite, queued runs), the
data root and the stations file. The source only starts once the daemon has launched the recorder run,
so the loss falls at a known time whatever the daemon's start-up costs on a loaded machine. Every process
started here (the daemon's process group: its code server and run workers; the recorder's ffmpegs, which
outlive their run by design; Icecast and its sources) is stopped in `finally`, passed or failed.

The hour itself is processed by the functions of `audio_analysis` and `dead_air_alerts`, in this
process: the hour being recorded is not a partition yet (PIGE_PARTITIONS_END_OFFSET=0), and a
`process_hour` run through the daemon would cost minutes of fingerprinting and speech for nothing the
live path needs.
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
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE
from pige_pipeline.hours import hour_start
from pige_pipeline.notify import Notifier
from pige_pipeline.recorder.state import read_states, request_stop
from pige_pipeline.recorder.supervisor import ROLE, ROLE_TAG
from pige_pipeline.settings import REPO_ROOT
from pige_pipeline.silence.alerts import dead_air_alert_rows
from pige_pipeline.silence.rows import SILENCES_SCHEMA, silence_rows
from pige_pipeline.stations import load_stations
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.store.hour_audio import decode_hour_pieces, load_hour_audio, require_parts
from pige_pipeline.store.parquet import write_asset_hour
from pige_pipeline.testing import silence_synth as synth
from pige_pipeline.testing.icecast import IcecastServer
from pige_pipeline.testing.loopback_smtp import LoopbackSMTP
from pige_pipeline.testing.sources import asc_tracks

pytestmark = pytest.mark.slow

RATE = 44100
LEAD_S, LOSS_S, TAIL_S = 20.0, 20.0, 25.0
VENV_BIN = Path(sys.executable).parent
# The daemon loads the code location, ticks the sensor, dequeues the run and starts its worker.
LAUNCH_TIMEOUT_S = 150.0


@pytest.fixture(scope="module")
def source_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real music (asc-music): LEAD_S of it, LOSS_S of digital silence, TAIL_S of music, at 128 kb/s."""
    work = tmp_path_factory.mktemp("live-daemon")
    music = synth.load_excerpt(asc_tracks()[1], 40.0, LEAD_S + TAIL_S, RATE)
    return synth.stream_with_loss(work / "source.mp3", music, LEAD_S, LOSS_S, RATE)


class Daemon:
    """`dagster-daemon run` in its own session; `stop` ends the whole group (code server, run workers)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(VENV_BIN / "dagster-daemon"), "run", "-w", str(REPO_ROOT / "workspace.yaml")],
                cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"dagster-daemon exited ({self.proc.returncode}):\n{self.tail()}")

    def stop(self) -> None:
        for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                continue
            # The group may outlive its leader for a moment (a run worker finishing): make sure.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            return


def _wait(what: str, probe: Callable[[], Any], daemon: Daemon, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        daemon.check_alive()
        time.sleep(0.5)
    pytest.fail(f"no {what} within {timeout_s:.0f} s; daemon log:\n{daemon.tail()}")


def _recorder_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return [r.dagster_run for r in instance.get_run_records(filters=dg.RunsFilter(tags={ROLE_TAG: ROLE}))]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recorder_processes(data_root: Path) -> list[int]:
    """The recorder run workers (heartbeat files) and their ffmpegs (staging files), by pid."""
    pids = [state.pid for state in read_states(data_root)]
    for info in (data_root / "recorder" / "incoming").glob("*/*/*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            pids.append(int(json.loads(info.read_text())["ffmpeg_pid"]))
    return pids


@contextlib.contextmanager
def _cleanup(data_root: Path) -> Iterator[list[Daemon]]:
    """Whatever happens: ask recorders to stop, stop the daemon's group, kill what is left by pid."""
    daemons: list[Daemon] = []
    try:
        yield daemons
    finally:
        for state in read_states(data_root):
            request_stop(data_root, state.recorder_id, "test over")
        for daemon in daemons:
            daemon.stop()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(map(_pid_alive, _recorder_processes(data_root))):
            time.sleep(0.5)
        for pid in _recorder_processes(data_root):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def test_daemon_launched_recorder_pages_live_and_the_hour_does_not_mail_again(
    data_root: Path, tmp_path: Path, source_mp3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test_started = time.monotonic()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    with IcecastServer() as ice, LoopbackSMTP() as smtp, _cleanup(data_root) as daemons:
        station = {
            "id": "fm1",
            "name": "Radio Un",
            "stream_url": ice.url("/fm1.mp3"),
            "timezone": "Europe/Paris",
            "airplay": {"enabled": False},
            "speech": {"enabled": False},
        }
        (data_root / "stations.yaml").write_text(yaml.safe_dump({"stations": [station]}), encoding="utf-8")
        mail_env = {
            "PIGE_SMTP_HOST": "127.0.0.1",
            "PIGE_SMTP_PORT": str(smtp.port),
            "PIGE_ALERT_TO": "regie@radio.test",
        }
        for key, value in mail_env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("OLLAMA_HOST", raising=False)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PIGE_", "DAGSTER_", "OLLAMA_"))},
            **mail_env,
            "DAGSTER_HOME": str(home),
            "PIGE_DATA_ROOT": str(data_root),
            "PIGE_RECORDER_AUTOSTART": "1",
        }
        with dg.DagsterInstance.from_config(str(home)) as instance:
            # The SQLite storage is created here first: created by both processes at once, one of them
            # fails with "table instance_info already exists".
            assert _recorder_runs(instance) == []
            daemons.append(Daemon(env, tmp_path / "daemon.log"))
            daemon = daemons[0]
            # The supervisor's tick requested the recorder run and the daemon's run queue started it.
            [run] = _wait(
                "recorder run started by the daemon",
                lambda: [r for r in _recorder_runs(instance) if r.status == dg.DagsterRunStatus.STARTED],
                daemon,
                LAUNCH_TIMEOUT_S,
            )
            assert run.tags.get("dagster/sensor_name") == "recorder_supervisor", run.tags
            launched_s = time.monotonic() - test_started
            # Only now does the station go on air: the recorder (backoff at most 5 s) joins within the
            # lead-in, and the loss begins LEAD_S after this.
            ice.add_source("/fm1.mp3", source_mp3, loop=False)
            source_started = time.time()
            mails = _wait(
                "page and all-clear", lambda: smtp.messages if len(smtp.messages) >= 2 else None, daemon,
                LEAD_S + LOSS_S + 45,
            )  # fmt: skip
            # The recorder finishes its chunk and exits on request; then the daemon can go.
            request_stop(data_root, run.run_id, "test over")
            _wait(
                "end of the recorder run",
                lambda: (r := instance.get_run_by_id(run.run_id)) is not None and r.is_finished,
                daemon,
                45,
            )
            finished = instance.get_run_by_id(run.run_id)
            assert finished is not None and finished.status == dg.DagsterRunStatus.SUCCESS, finished
        daemon.stop()

        assert len(mails) == 2, [m["Subject"] for m in mails]
        alert, clear = mails
        assert "LIVE dead air on Radio Un" in alert["Subject"] and "all clear on Radio Un" in clear["Subject"]
        notifier = Notifier.from_env(data_root)
        page = notifier.outbox.get(alert["X-Pige-Key"])
        assert page is not None and page.data["station"] == "fm1"
        onset = datetime.fromisoformat(page.data["onset"])
        # The loss starts LEAD_S into the source; it is mailed well within a minute of its onset.
        assert abs(onset.timestamp() - (source_started + LEAD_S)) < 6, (onset, source_started)
        paged = notifier.outbox.state(alert["X-Pige-Key"])
        assert paged is not None and paged.notified_at is not None
        page_delay_s = (paged.notified_at - onset).total_seconds()
        assert page_delay_s <= 60
        cleared = notifier.outbox.get(clear["X-Pige-Key"])
        assert cleared is not None
        back = datetime.fromisoformat(cleared.data["back_at"])
        assert LOSS_S - 4 <= (back - onset).total_seconds() <= LOSS_S + 6

        # The hour's record from the chunks the daemon's run published, through the functions of
        # `audio_analysis` and `dead_air_alerts`: the loss is there, suspect, marked as already paged,
        # and no third mail goes out.
        fm1 = load_stations(data_root / "stations.yaml").get("fm1")
        hours = sorted({hour_start(c.start) for c in list_chunks(data_root, "fm1")})
        assert hours, "the recorder published no chunk"
        for hour in hours:
            pieces = decode_hour_pieces(
                require_parts(load_hour_audio(data_root, "fm1", hour)), ANALYSIS_SAMPLE_RATE
            )
            found = silence_rows(pieces, ANALYSIS_SAMPLE_RATE, hour, fm1.silence)
            write_asset_hour(data_root, "silences", "fm1", hour, found, SILENCES_SCHEMA)
        rows = [row for hour in hours for row in dead_air_alert_rows(data_root, fm1, hour, notifier)]
        [loss] = [r for r in rows if r["event_duration_s"] >= LOSS_S - 5]
        assert loss["classification"] == "suspect"
        assert loss["notification_status"].startswith("sent (live alert dead_air_live:"), loss
        assert abs((loss["event_start"] - onset).total_seconds()) < 6
        time.sleep(1.0)
        assert len(smtp.messages) == 2, [m["Subject"] for m in smtp.messages]
    print(
        f"daemon launched the recorder {launched_s:.1f} s after start; paged {page_delay_s:.1f} s after "
        f"the loss began; whole test {time.monotonic() - test_started:.1f} s"
    )
