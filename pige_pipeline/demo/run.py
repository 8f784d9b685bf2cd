"""Set up and run the demo on the embedded defaults: stations, catalogue, one imported hour, the UI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pige_pipeline.demo.programme import build_programme, demo_catalogue, write_catalogue_csv
from pige_pipeline.hours import hour_start, partition_key_for
from pige_pipeline.settings import REPO_ROOT, PigeSettings
from pige_pipeline.store.importer import import_archive

if TYPE_CHECKING:
    from pige_pipeline.testing.icecast import IcecastServer

DEMO_STATION = "demo-fm"
DEMO_ICECAST_PORT = 8765
DEMO_TIMEZONE = "Europe/Paris"
DEMO_STATIONS_YAML = f"""\
# Written by `pige demo`. Replace with your own stations (see README.md, "Configuration").
stations:
  - id: {DEMO_STATION}
    name: Demo FM
    stream_url: http://127.0.0.1:8765/{DEMO_STATION}.mp3
    timezone: {DEMO_TIMEZONE}
    language: fr
    retention_days: 30
    speech:
      watch_terms: [appel, message]
"""


def prepare_demo(settings: PigeSettings, say: Callable[[str], None] = print) -> datetime:
    """Write the demo station and catalogue, build the programme and import it as the last full hour."""
    settings.data_root.mkdir(parents=True, exist_ok=True)
    if not settings.stations_file.exists() or "pige demo" in settings.stations_file.read_text(
        encoding="utf-8"
    ):
        settings.stations_file.write_text(DEMO_STATIONS_YAML, encoding="utf-8")
    write_catalogue_csv(settings.catalogue_file, demo_catalogue())
    programme = settings.data_root / "demo" / "programme.mp3"
    if not programme.exists():
        say("demo: building a one-hour programme from real music and speech (about 30 s)")
        build_programme(programme)
    hour = hour_start(datetime.now(UTC)) - timedelta(hours=1)
    archive = settings.data_root / "demo" / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    archive.mkdir(parents=True)
    os.link(programme, archive / f"{DEMO_STATION}_{hour:%Y%m%d-%H}00.mp3")
    report = import_archive(
        archive, settings.data_root, DEMO_STATION, pattern="demo-fm_%Y%m%d-%H%M.mp3", link=True
    )
    for _, dest in report.imported:
        say(f"demo: imported the programme as {dest}")
    return hour


def materialize_demo_hour(hour: datetime, say: Callable[[str], None] = print) -> list[str]:
    """Materialise the catalogue, every hourly asset for `hour` and analytics; return the jobs that failed."""
    import dagster as dg

    from pige_pipeline.definitions import defs

    instance = dg.DagsterInstance.get()
    failed: list[str] = []
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    if "catalogue" in keys:
        say("demo: fingerprinting the catalogue")
        catalogue_job = dg.define_asset_job("demo_catalogue", selection=["catalogue"])
        job_defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[catalogue_job]))
        catalogue = job_defs.resolve_job_def("demo_catalogue").execute_in_process(
            instance=instance, raise_on_error=False
        )
        if not catalogue.success:
            say("demo: catalogue FAILED (see the UI for the step logs)")
            failed.append("catalogue")
    key = partition_key_for(hour)
    from pige_pipeline.cli.scale import process_hour_job
    from pige_pipeline.data_root import ensure_data_root_id
    from pige_pipeline.lib.hourly import DATA_ROOT_TAG
    from pige_pipeline.scale.settings import ScaleSettings

    scale = ScaleSettings.from_env()
    say(f"demo: processing hour {key} (process_hour job, {scale.executor} executor)")
    # Through the configured executor, as the sensor's runs go: station steps in parallel on every core.
    result = dg.execute_job(
        dg.reconstructable(process_hour_job),
        instance=instance,
        tags={
            "dagster/partition": key,
            DATA_ROOT_TAG: ensure_data_root_id(PigeSettings.from_env().data_root),
            "pige/trigger": "demo",
        },
    )
    say(f"demo: process_hour {'succeeded' if result.success else 'FAILED (see the UI for the step logs)'}")
    if not result.success:
        failed.append("process_hour")
    if "analytics" in keys:
        say("demo: rebuilding analytics.duckdb (analytics asset)")
        analytics_job = dg.define_asset_job("demo_analytics", selection=["analytics"])
        analytics = (
            dg.Definitions.merge(defs, dg.Definitions(jobs=[analytics_job]))
            .resolve_job_def("demo_analytics")
            .execute_in_process(instance=instance, raise_on_error=False)
        )
        if not analytics.success:
            say("demo: analytics FAILED (see the UI for the step logs)")
            failed.append("analytics")
    return failed


def demo_report_day_and_month(hour: datetime) -> tuple[str, str]:
    """The demo station's own day and month of `hour`: reports are cut on the station's clock."""
    local = hour.astimezone(ZoneInfo(DEMO_TIMEZONE))
    return f"{local:%Y-%m-%d}", f"{local:%Y-%m}"


def write_demo_reports(hour: datetime, say: Callable[[str], None] = print) -> list[str]:
    """The demo day's and month's reports, through the commands people use; return those that failed."""
    from pige_pipeline.cli import app

    day, month = demo_report_day_and_month(hour)
    failed: list[str] = []
    for args in (
        ["report", "daily", "--date", day],
        ["report", "airplay", "--month", month],
        ["report", "dead-air", "--date", day],
        ["report", "coverage", "--date", day],
        ["report", "stats"],
    ):
        say("demo: pige " + " ".join(args))
        try:
            # Without standalone mode a command's typer.Exit comes back as its exit code, not raised.
            code = app(args, standalone_mode=False)
        except Exception as exc:  # a report that cannot be written must not stop the demo
            say(f"demo: {' '.join(args)} failed: {exc}")
            failed.append(" ".join(args))
            continue
        if code not in (None, 0):
            say(f"demo: {' '.join(args)} failed (exit code {code})")
            failed.append(" ".join(args))
    return failed


@contextmanager
def demo_icecast(programme: Path, port: int = DEMO_ICECAST_PORT) -> Iterator[IcecastServer]:
    """The demo's Icecast on `port`, playing `programme` (looped) on the demo station's mount.

    A port already taken raises `PortInUseError` at once, naming the process that holds it. Icecast
    and its ffmpeg source are stopped when the block ends, and get SIGTERM if this process dies first
    (even by SIGKILL): none of them is left holding the port (pige_pipeline/testing/procs.py).
    """
    from pige_pipeline.testing.icecast import IcecastServer

    hint = (
        f"stop that process, or run `pige demo --no-live` (the demo station's stream URL is fixed to "
        f"port {port})"
    )
    with IcecastServer(port=port, port_hint=hint) as ice:
        ice.add_source(f"/{DEMO_STATION}.mp3", programme, name="Demo FM")
        yield ice


def start_ui(
    settings: PigeSettings, port: int = 3000, live: bool = True, icecast_port: int = DEMO_ICECAST_PORT
) -> None:
    """Run `dagster dev` on 127.0.0.1; with `live`, a local Icecast plays the programme as a stream.

    The demo station's stream URL points at that Icecast, and the recorder supervisor is switched on,
    so the daemon launches the recorder run, which records the live stream into the chunk store, and
    the new-chunk sensor processes each hour it completes: the whole chain, as at a station.

    `icecast_port` is for tests: the demo's stations.yaml names port 8765. A taken port raises
    `PortInUseError` before anything starts. Every child (Icecast, its ffmpeg, `dagster dev`) is stopped
    and waited for on the way out, Ctrl-C included, and gets SIGTERM if this process is killed.
    """
    say = print
    env = dict(os.environ)
    cmd = [str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
           "-w", str(REPO_ROOT / "workspace.yaml")]  # fmt: skip
    with ExitStack() as stack:
        if live:
            from pige_pipeline.testing.icecast import IcecastError

            try:
                ice = stack.enter_context(
                    demo_icecast(settings.data_root / "demo" / "programme.mp3", icecast_port)
                )
                env["PIGE_RECORDER_AUTOSTART"] = "1"
                stream = ice.url(f"/{DEMO_STATION}.mp3")
                say(f"demo: Icecast plays the programme live at {stream}; the recorder supervisor")
                say("demo: starts recording it once the UI's daemon is up")
            except (IcecastError, OSError) as exc:  # not PortInUseError: that one stops the demo
                say(f"demo: no live stream ({exc}); the UI still shows the imported hour")
        say(f"demo: starting the Dagster UI on http://127.0.0.1:{port} (Ctrl-C to stop)")
        _run_until_done(cmd, env)


def _run_until_done(cmd: list[str], env: dict[str, str], grace_s: float = 20.0) -> None:
    """Run `cmd` to its end; on Ctrl-C give it `grace_s` to shut down (it got the Ctrl-C too), then stop it.

    Not `subprocess.run`, which kills its child 0.25 s after a Ctrl-C: `dagster dev` then has no time
    to stop its webserver and daemon.
    """
    from pige_pipeline.testing.procs import die_with_parent

    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, preexec_fn=die_with_parent())
    try:
        proc.wait()
    except BaseException:
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise
