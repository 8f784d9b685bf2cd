"""`pige retention`, `pige hold`, `pige storage` and `pige housekeeping`: operating a pige server."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from pige_pipeline.cli.common import (
    DataRootOption,
    StationsOption,
    fail,
    load_stations_or_exit,
    resolve_settings,
)
from pige_pipeline.hours import utc
from pige_pipeline.maintenance.alerts import acknowledge_alert
from pige_pipeline.maintenance.holds import (
    ALL_STATIONS,
    LegalHold,
    LegalHoldError,
    add_hold,
    load_holds,
    remove_hold,
)
from pige_pipeline.maintenance.housekeeping import find_stale_files, remove_stale_files
from pige_pipeline.maintenance.retention import apply_retention, plan_retention, read_deletion_log
from pige_pipeline.maintenance.storage import StorageThresholds, check_storage, human_bytes

retention_app = typer.Typer(
    help="Delete audio older than each station's retention_days.", no_args_is_help=True
)
hold_app = typer.Typer(help="Legal holds: audio that retention must keep.", no_args_is_help=True)
storage_app = typer.Typer(help="Disk space of the data root.", no_args_is_help=True)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List what would be deleted and the bytes freed; delete nothing."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Only the summary, not one line per file.")] = False,
    stations: StationsOption = None,
    data_root: DataRootOption = None,
) -> None:
    """Delete expired audio chunks (never derived data, held audio or audio near an open dead-air alert)."""
    settings = resolve_settings(data_root, stations)
    registry = load_stations_or_exit(settings.stations_file)
    try:
        plan = plan_retention(settings.data_root, registry)
    except LegalHoldError as exc:
        fail(f"{exc}\nNothing was deleted.")
        return
    for problem in plan.problems:
        typer.echo(f"warning: {problem}", err=True)
    if not quiet:
        verb = "would delete" if dry_run else "deleting"
        for chunk in plan.delete:
            typer.echo(f"{verb}: {chunk.path}  {human_bytes(chunk.size_bytes)}")
        for kept in plan.kept:
            typer.echo(f"keeping: {kept.chunk.path}  ({kept.reason})")
    for station, info in plan.by_station().items():
        typer.echo(
            f"{station:<20} {info['files']:>6} files  {human_bytes(info['bytes']):>10}  "
            f"{info['kept']} kept by a hold or an alert"
        )
    if dry_run:
        typer.echo(
            f"dry run: {len(plan.delete)} files, {human_bytes(plan.bytes_to_free)} "
            f"({plan.bytes_to_free} bytes) would be freed; {len(plan.kept)} expired files kept"
        )
        return
    result = apply_retention(settings.data_root, plan, run_id="cli")
    for path, why in result.failed.items():
        typer.echo(f"error: could not delete {path}: {why}", err=True)
    typer.echo(
        f"deleted {len(result.deleted)} files, {human_bytes(result.bytes_freed)} "
        f"({result.bytes_freed} bytes) "
        f"freed; {len(plan.kept)} expired files kept; log: {result.log_path or 'nothing deleted'}"
    )
    if result.failed:
        raise typer.Exit(1)


@retention_app.command("log")
def retention_log(
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM (default: this month).")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Show the deletion log of a month."""
    settings = resolve_settings(data_root)
    try:
        when = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC) if month else datetime.now(UTC)
    except ValueError:
        fail(f"--month {month!r}: expected YYYY-MM, for example 2026-11")
        return
    entries = read_deletion_log(settings.data_root, when)
    for entry in entries:
        typer.echo(f"{entry['deleted_at']}  {entry['station']:<16} {entry['bytes']:>12}  {entry['path']}")
    typer.echo(f"{len(entries)} deletions in {when:%Y-%m}")


@retention_app.command("ack-alert")
def retention_ack_alert(
    alert_id: Annotated[str, typer.Argument(help="alert_id of the dead-air alert (dead_air_alerts).")],
    note: Annotated[str, typer.Option("--note", help="Why it is closed.")] = "",
    by: Annotated[str | None, typer.Option("--by", help="Who closes it (default: your user name).")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Close a dead-air alert: the audio around it then follows normal retention."""
    settings = resolve_settings(data_root)
    path = acknowledge_alert(settings.data_root, alert_id, by or getpass.getuser(), note)
    typer.echo(f"alert {alert_id!r} acknowledged ({path})")


@hold_app.command("add")
def hold_add(
    station: Annotated[str, typer.Option("--station", help="Station id, or '*' for every station.")],
    start: Annotated[
        datetime, typer.Option("--from", help="Start (UTC), e.g. 2026-03-01 or 2026-03-01T06:00.")
    ],
    end: Annotated[datetime, typer.Option("--to", help="End (UTC, exclusive).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (court order, complaint number...).")],
    hold_id: Annotated[str | None, typer.Option("--id", help="Identifier (default: derived).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who asks (default: your user name).")] = None,
    stations: StationsOption = None,
    data_root: DataRootOption = None,
) -> None:
    """Keep a station's audio between two moments, whatever retention says."""
    settings = resolve_settings(data_root, stations)
    if station != ALL_STATIONS:
        registry = load_stations_or_exit(settings.stations_file)
        known = {s.id for s in registry.stations}
        in_store = (settings.chunks_dir / station).is_dir()
        if station not in known and not in_store:
            fail(f"no station {station!r} in {settings.stations_file} or the chunk store; check the id")
    start, end = utc(start), utc(end)
    label = "all" if station == ALL_STATIONS else station
    new_id = hold_id or f"{label}-{start:%Y%m%d%H}-{end:%Y%m%d%H}"
    try:
        hold = LegalHold(id=new_id, station=station, start=start, end=end, reason=reason,
                         created_by=by or getpass.getuser())  # fmt: skip
        add_hold(settings.data_root, hold)
    except (LegalHoldError, ValueError) as exc:
        fail(str(exc))
        return
    typer.echo(
        f"hold {hold.id!r} added: {station} {start:%Y-%m-%dT%H:%MZ} - {end:%Y-%m-%dT%H:%MZ} ({reason})"
    )


@hold_app.command("ls")
def hold_ls(data_root: DataRootOption = None) -> None:
    """List legal holds."""
    settings = resolve_settings(data_root)
    try:
        holds = load_holds(settings.data_root)
    except LegalHoldError as exc:
        fail(str(exc))
        return
    for h in holds:
        typer.echo(
            f"{h.id:<32} {h.station:<16} {h.start:%Y-%m-%dT%H:%MZ} - {h.end:%Y-%m-%dT%H:%MZ}  "
            f"{h.reason}  (by {h.created_by or '?'} {h.created_at:%Y-%m-%d})"
        )
    typer.echo(f"{len(holds)} holds")


@hold_app.command("rm")
def hold_rm(
    hold_id: Annotated[str, typer.Argument(help="Id of the hold (see `pige hold ls`).")],
    data_root: DataRootOption = None,
) -> None:
    """Remove a legal hold: its audio then follows normal retention again."""
    settings = resolve_settings(data_root)
    try:
        hold = remove_hold(settings.data_root, hold_id)
    except LegalHoldError as exc:
        fail(str(exc))
        return
    typer.echo(f"hold {hold.id!r} removed ({hold.station}, {hold.reason})")


@storage_app.command("health")
def storage_health(
    no_record: Annotated[
        bool, typer.Option("--no-record", help="Do not add this reading to the history.")
    ] = False,
    data_root: DataRootOption = None,
) -> None:
    """Free space, growth rate, predicted time to full and days of recording that fit; exit 1 if low."""
    settings = resolve_settings(data_root)
    try:
        thresholds = StorageThresholds.from_env()
    except ValueError as exc:
        fail(str(exc))
        return
    health = check_storage(settings.data_root, record=not no_record)
    growth = health.growth_bytes_per_day
    ttf = health.time_to_full
    days = health.days_of_recording_fit
    typer.echo(f"data root:          {health.path}")
    typer.echo(f"free:               {human_bytes(health.free_bytes)} of {human_bytes(health.total_bytes)} "
               f"({health.free_percent:.1f}%)")  # fmt: skip
    typer.echo(
        "growth:             "
        + (
            f"{human_bytes(growth)}/day"
            if growth is not None
            else f"unknown ({health.samples} samples so far)"
        )
    )
    typer.echo(
        "time to full:       "
        + (f"{ttf.total_seconds() / 86400:.1f} days" if ttf else "not filling at the current growth")
    )
    typer.echo(f"recording:          {human_bytes(health.recording_bytes_per_day)}/day")
    typer.echo(
        "days of recording:  " + (f"{days:.1f} fit" if days is not None else "nothing recorded lately")
    )
    problems = health.problems(thresholds)
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)
    if problems:
        raise typer.Exit(1)


def housekeeping(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
    failed_run_days: Annotated[
        int, typer.Option("--failed-run-days", help="Delete failed runs older than this.")
    ] = 30,
    stale_hours: Annotated[
        float, typer.Option("--stale-hours", help="Remove temporary files older than this.")
    ] = 24.0,
    data_root: DataRootOption = None,
) -> None:
    """Delete failed Dagster runs older than N days and files left by interrupted writes."""
    settings = resolve_settings(data_root)
    stale = find_stale_files(settings.data_root, timedelta(hours=stale_hours))
    for item in stale:
        typer.echo(f"{'would remove' if dry_run else 'removing'}: {item.path}  ({item.why})")
    if not dry_run:
        result = remove_stale_files(stale)
        for path, why in result.failed.items():
            typer.echo(f"error: could not remove {path}: {why}", err=True)
    typer.echo(f"{len(stale)} stale files {'found' if dry_run else 'removed'}")
    if not os.environ.get("DAGSTER_HOME"):
        typer.echo(
            "failed runs: skipped (DAGSTER_HOME is not set; set it to the instance's folder)", err=True
        )
        return
    # Imported here: the rest of the command needs no Dagster instance.
    import dagster as dg

    from pige_pipeline.defs.maintenance.housekeeping import delete_runs, old_failed_runs

    with dg.DagsterInstance.get() as instance:
        run_ids = old_failed_runs(instance, timedelta(days=failed_run_days))
        if not dry_run:
            delete_runs(instance, run_ids)
    typer.echo(
        f"{len(run_ids)} failed runs older than {failed_run_days} days {'found' if dry_run else 'deleted'}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
    app.add_typer(hold_app, name="hold")
    app.add_typer(storage_app, name="storage")
    app.command("housekeeping")(housekeeping)
