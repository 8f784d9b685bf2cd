"""`pige import` and `pige chunks ls`: the chunk store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from pige_pipeline.audio.probe import AudioProbeError, probe_audio
from pige_pipeline.cli.common import (
    DataRootOption,
    StationsOption,
    fail,
    load_stations_or_exit,
    resolve_settings,
)
from pige_pipeline.cli.progress import progress_bar
from pige_pipeline.hours import utc
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.store.importer import ROTTER_PATTERNS, PatternError, import_archive

chunks_app = typer.Typer(help="The chunk store of recorded audio.", no_args_is_help=True)


def import_command(
    source: Annotated[Path, typer.Argument(help="Root directory of the archive to import.")],
    station: Annotated[str, typer.Option("--station", help="Station id the files belong to.")],
    pattern: Annotated[
        str | None,
        typer.Option(
            "--pattern",
            help="Path pattern relative to SOURCE, e.g. '%Y/%m/%d/%H.mp3' or 'radio_%Y%m%d-%H*.mp3'. "
            f"Default: any of rotter's layouts ({', '.join(ROTTER_PATTERNS)}).",
        ),
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="Timezone of the names (default: the station's).")
    ] = None,
    link: Annotated[
        bool, typer.Option("--link", help="Hard-link instead of copying where possible.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would be imported.")] = False,
    stations: StationsOption = None,
    data_root: DataRootOption = None,
) -> None:
    """Bring an existing archive of hourly files into the chunk store (files are copied, never moved)."""
    settings = resolve_settings(data_root, stations)
    tz = timezone
    if tz is None:
        registry = load_stations_or_exit(settings.stations_file)
        try:
            tz = registry.get(station).timezone
        except KeyError as exc:
            fail(f"{exc.args[0]} ({settings.stations_file}); add it there first")
    files = sum(1 for p in source.rglob("*") if p.is_file()) if source.is_dir() else 0
    try:
        with progress_bar("importing", files, "files") as bar:
            report = import_archive(
                source,
                settings.data_root,
                station,
                pattern=pattern,
                timezone=tz or "UTC",
                link=link,
                dry_run=dry_run,
                on_file=lambda path: bar.advance(label=path.name),
            )
    except (PatternError, FileNotFoundError) as exc:
        fail(str(exc))
        return
    verb = "would import" if dry_run else "imported"
    for src, dest in report.imported:
        typer.echo(f"{verb}: {src} -> {dest}")
    for src, dest in report.skipped_existing:
        typer.echo(f"skipped (already in the store): {src} -> {dest}")
    for _src, why in report.skipped_unreadable:
        typer.echo(f"skipped (not readable audio, left in place): {why}", err=True)
    for src in report.unmatched:
        typer.echo(f"skipped (name does not match the pattern): {src}", err=True)
    typer.echo(
        f"{len(report.imported)} {verb}, {len(report.skipped_existing)} already present, "
        f"{len(report.skipped_unreadable)} unreadable, {len(report.unmatched)} unmatched"
    )
    if report.skipped_unreadable:
        raise typer.Exit(1)


@chunks_app.command("ls")
def ls(
    station: Annotated[str | None, typer.Option("--station", help="Only this station.")] = None,
    since: Annotated[
        datetime | None, typer.Option("--from", help="Start (UTC), e.g. 2026-11-22T10:00.")
    ] = None,
    until: Annotated[datetime | None, typer.Option("--to", help="End (UTC, exclusive).")] = None,
    probe: Annotated[bool, typer.Option("--probe", help="Also show duration and codec (ffprobe).")] = False,
    data_root: DataRootOption = None,
) -> None:
    """List recorded chunks, oldest first."""
    settings = resolve_settings(data_root)
    chunks = list_chunks(
        settings.data_root, station, utc(since) if since else None, utc(until) if until else None
    )
    for chunk in chunks:
        line = f"{chunk.station:<20} {chunk.start:%Y-%m-%dT%H:%M:%SZ}  {chunk.path}"
        if probe:
            try:
                info = probe_audio(chunk.path)
                line += f"  {info.duration_s:8.1f}s {info.codec} {info.bitrate or 0 // 1000}b/s"
            except AudioProbeError as exc:
                line += f"  UNREADABLE: {exc}"
        typer.echo(line)
    typer.echo(f"{len(chunks)} chunks")


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
    app.add_typer(chunks_app, name="chunks")
