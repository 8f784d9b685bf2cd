"""Set up and run the demo on the embedded defaults: stations, catalogue, one imported hour, the UI."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pige_pipeline.demo.programme import build_programme, demo_catalogue, write_catalogue_csv
from pige_pipeline.hours import hour_start, partition_key_for
from pige_pipeline.importer import import_archive
from pige_pipeline.settings import REPO_ROOT, PigeSettings

DEMO_STATION = "demo-fm"
DEMO_STATIONS_YAML = f"""\
# Written by `pige demo`. Replace with your own stations (see README.md, "Configuration").
stations:
  - id: {DEMO_STATION}
    name: Demo FM
    stream_url: http://127.0.0.1:8765/{DEMO_STATION}.mp3
    timezone: Europe/Paris
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


def materialize_demo_hour(hour: datetime, say: Callable[[str], None] = print) -> None:
    """Materialise the non-partitioned inputs (catalogue) and then every hourly asset for `hour`."""
    import dagster as dg

    from pige_pipeline.definitions import defs

    instance = dg.DagsterInstance.get()
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    if "catalogue" in keys:
        say("demo: fingerprinting the catalogue")
        catalogue_job = dg.define_asset_job("demo_catalogue", selection=["catalogue"])
        job_defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[catalogue_job]))
        job_defs.resolve_job_def("demo_catalogue").execute_in_process(instance=instance)
    key = partition_key_for(hour)
    say(f"demo: processing hour {key} (process_hour job)")
    result = defs.resolve_job_def("process_hour").execute_in_process(
        partition_key=key, instance=instance, raise_on_error=False
    )
    say(f"demo: process_hour {'succeeded' if result.success else 'FAILED (see the UI for the step logs)'}")


def start_ui(port: int = 3000) -> None:
    say = print
    say(f"demo: starting the Dagster UI on http://127.0.0.1:{port} (Ctrl-C to stop)")
    subprocess.run(
        [str(Path(os.sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
         "-w", str(REPO_ROOT / "workspace.yaml")],
        cwd=REPO_ROOT, check=False,
    )  # fmt: skip
