"""`pige process` (hours through Dagster with the configured executor) and `pige worker` (a Celery worker)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pige_pipeline.cli.common import (
    DataRootOption,
    StationsOption,
    fail,
    load_stations_or_exit,
    resolve_settings,
)
from pige_pipeline.cli.progress import Progress, SilentProgress, progress_bar

if TYPE_CHECKING:
    import dagster as dg


def process_hour_job() -> dg.JobDefinition:
    """The `process_hour` job, rebuilt by name in every step process (dagster.reconstructable)."""
    from pige_pipeline.definitions import defs

    return defs.resolve_job_def("process_hour")


def _hours(first: str, last: str | None) -> list[str]:
    from pige_pipeline.hours import hour_from_partition_key, partition_key_for

    try:
        start = hour_from_partition_key(first)
        end = hour_from_partition_key(last) if last else start
    except ValueError:
        fail(f"--from {first!r} / --to {last!r}: give hours as partition keys, e.g. 2026-11-30-10:00")
    if end < start:
        fail(f"--to {last} is before --from {first}")
    keys = []
    while start <= end:
        keys.append(partition_key_for(start))
        start += timedelta(hours=1)
    return keys


def _export_settings(data_root: Path | None, stations: Path | None) -> Any:
    """Settings for this command, exported so the step processes the executor starts see the same ones."""
    settings = resolve_settings(data_root, stations)
    os.environ["PIGE_DATA_ROOT"] = str(settings.data_root)
    os.environ["PIGE_STATIONS"] = str(settings.stations_file)
    os.environ["PIGE_CATALOGUE"] = str(settings.catalogue_file)
    return settings


def _station_table(data_root: Path, hour: datetime, assets: list[str]) -> list[str]:
    from pige_pipeline.store.parquet import read_manifest

    manifests = {a: m for a in assets if (m := read_manifest(data_root, a, hour)) is not None}
    stations = sorted({sid for m in manifests.values() for sid in (m.get("steps") or {})})
    lines = []
    for sid in stations:
        problems = [
            f"{asset}: {m['failed'][sid]}" for asset, m in manifests.items() if sid in (m.get("failed") or {})
        ]
        no_audio = any(sid in (m.get("no_audio") or {}) for m in manifests.values())
        counts = ", ".join(
            f"{label} {manifests[a]['rows'].get(sid, 0)}"
            for a, label in (
                ("airplay_events", "plays"),
                ("silences", "silences"),
                ("transcripts", "segments"),
            )
            if a in manifests
        )
        workers = sorted({(m.get("steps") or {}).get(sid, {}).get("worker", "?") for m in manifests.values()})
        status = "FAILED" if problems else "no audio" if no_audio else "ok"
        lines.append(f"  {sid:<20} {status:<8} {counts}  (workers: {', '.join(workers)})")
        lines.extend(f"      {p}" for p in problems)
    return lines


INVOCATION_TAG = "pige/cli_invocation"


def _steps_per_hour(job: dg.JobDefinition, enabled_stations: int) -> int:
    """Steps one run of `job` executes: each hourly graph is a plan, a finish and one step per batch."""
    from pige_pipeline.lib.hourly import stations_per_step

    try:
        batches = -(-enabled_stations // stations_per_step())
    except ValueError as exc:
        fail(str(exc))
    total = 0
    for node in job.graph.node_dict.values():
        inner = [d.name for d in getattr(node.definition, "node_defs", [])]
        mapped = sum(name.endswith("_stations") for name in inner)
        total += len(inner) - mapped + mapped * batches if inner else 1
    return total


class _StepCounter:
    """Moves a progress bar as the steps of this invocation's runs end, from the instance's event log.

    `execute_job` blocks until the run is over, so the count is read by a thread: the runs are found by
    their invocation tag, their ended steps (succeeded, failed or skipped) counted twice a second.
    """

    def __init__(self, instance: dg.DagsterInstance, invocation: str, bar: Progress) -> None:
        self._instance, self._invocation, self._bar = instance, invocation, bar
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="pige-progress", daemon=True)
        self._counted = 0

    def __enter__(self) -> _StepCounter:
        if not isinstance(self._bar, SilentProgress):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
            self._count()

    def _count(self) -> None:
        import dagster as dg

        ended = {
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
            dg.DagsterEventType.STEP_SKIPPED,
        }
        runs = self._instance.get_runs(dg.RunsFilter(tags={INVOCATION_TAG: self._invocation}))
        steps = 0
        for run in runs:
            for kind in ended:
                steps += len(
                    self._instance.get_records_for_run(run.run_id, of_type=kind, limit=10_000).records
                )
        if steps > self._counted:
            self._bar.advance(steps - self._counted, label=f"{len(runs)} run(s)")
            self._counted = steps

    def _watch(self) -> None:
        while not self._done.wait(0.5):
            try:
                self._count()
            except Exception:  # noqa: BLE001 - a progress bar must never stop the processing it reports
                continue


def process(
    first: Annotated[str, typer.Option("--from", help="First hour, as a partition key: 2026-11-30-10:00.")],
    last: Annotated[
        str | None, typer.Option("--to", help="Last hour (inclusive); default: --from only.")
    ] = None,
    data_root: DataRootOption = None,
    stations: StationsOption = None,
) -> None:
    """Run `process_hour` for each hour through Dagster (PIGE_EXECUTOR) and print each station's result."""
    settings = _export_settings(data_root, stations)
    keys = _hours(first, last)
    import dagster as dg

    from pige_pipeline.data_root import ensure_data_root_id
    from pige_pipeline.hours import hour_from_partition_key
    from pige_pipeline.lib.hourly import DATA_ROOT_TAG
    from pige_pipeline.scale.settings import ScaleSettings

    try:
        scale = ScaleSettings.from_env()
    except ValueError as exc:
        fail(str(exc))
    if not os.environ.get("DAGSTER_HOME"):
        fail("DAGSTER_HOME is not set: point it at the instance directory (README, 'Configuration')")
    root_id = ensure_data_root_id(settings.data_root)
    job = process_hour_job()
    assets = sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
    typer.echo(
        f"pige process: {len(keys)} hour(s), executor {scale.executor}, data root {settings.data_root}"
    )
    failed_hours = 0
    invocation = uuid.uuid4().hex
    per_hour = _steps_per_hour(job, len(load_stations_or_exit(settings.stations_file).enabled))
    with (
        dg.DagsterInstance.get() as instance,
        progress_bar("processing", per_hour * len(keys), "steps") as bar,
        _StepCounter(instance, invocation, bar),
    ):
        for key in keys:
            started = time.monotonic()
            result = dg.execute_job(
                dg.reconstructable(process_hour_job),
                instance=instance,
                tags={
                    "dagster/partition": key,
                    DATA_ROOT_TAG: root_id,
                    "pige/trigger": "cli",
                    INVOCATION_TAG: invocation,
                },
            )
            verdict = "succeeded" if result.success else "FAILED"
            failed_hours += not result.success
            typer.echo(f"{key}: {verdict} in {time.monotonic() - started:.1f} s (run {result.run_id})")
            for line in _station_table(settings.data_root, hour_from_partition_key(key), assets):
                typer.echo(line)
    if failed_hours:
        raise typer.Exit(1)


def worker(
    queues: Annotated[
        str,
        typer.Option("--queues", help="Queues to take steps from: audio, speech (Whisper), or both."),
    ] = "audio,speech",
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=0, help="Steps at once (default 0: one per core).")
    ] = 0,
    name: Annotated[
        str | None, typer.Option("--name", help="Worker name (default: pige-QUEUES-PID).")
    ] = None,
    data_root: DataRootOption = None,
    stations: StationsOption = None,
) -> None:
    """Start a Celery worker that runs station steps from Redis (PIGE_CELERY_BROKER) until stopped."""
    settings = _export_settings(data_root, stations)
    from pige_pipeline.data_root import read_data_root_id
    from pige_pipeline.scale.settings import ScaleSettings, parse_queues

    try:
        wanted = parse_queues(queues)
        os.environ.setdefault("PIGE_EXECUTOR", "celery")
        scale = ScaleSettings.from_env()
    except ValueError as exc:
        fail(str(exc))
    if not scale.celery_broker:
        fail("PIGE_CELERY_BROKER is not set: give the Redis URL the runs use, e.g. redis://10.0.0.5:6379/0")
    # Refuse to start on a machine that does not see the shared data root: a worker that wrote into its
    # own empty directory would report success for Parquet nobody ever reads. Each step then checks the
    # root's id against the run's (pige_pipeline/data_root.py).
    if not settings.stations_file.exists():
        fail(
            f"pige worker: no stations file at {settings.stations_file}, so {settings.data_root} is not the "
            "shared data root: mount it there (the same path on every machine) or set PIGE_DATA_ROOT"
        )
    root_id = read_data_root_id(settings.data_root)
    label = name or f"pige-{'-'.join(q for q in wanted if q != 'dagster')}-{os.getpid()}"
    os.environ["PIGE_WORKER_NAME"] = label
    from pige_pipeline.lib.celery_app import app

    typer.echo(
        f"pige worker {label}: queues {','.join(wanted)}, broker {scale.celery_broker}, data root "
        f"{settings.data_root} (id {root_id or 'not written yet: the first run writes it'})"
    )
    app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(wanted),
            "--concurrency",
            str(concurrency or os.cpu_count() or 1),
            "--prefetch-multiplier",
            "1",
            "--hostname",
            f"{label}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def register(app: typer.Typer) -> None:
    app.command("process")(process)
    app.command("worker")(worker)
