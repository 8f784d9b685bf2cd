"""`pige stations ...`: the station registry."""

from __future__ import annotations

import typer

from pige_pipeline.cli.common import DataRootOption, StationsOption, load_stations_or_exit, resolve_settings

stations_app = typer.Typer(help="The station registry (stations.yaml).", no_args_is_help=True)


@stations_app.command("check")
def check(stations: StationsOption = None, data_root: DataRootOption = None) -> None:
    """Validate stations.yaml and list the stations (passwords in URLs are masked)."""
    settings = resolve_settings(data_root, stations)
    registry = load_stations_or_exit(settings.stations_file)
    for s in registry.stations:
        state = "enabled " if s.enabled else "disabled"
        typer.echo(f"{s.id:<20} {state} {s.timezone:<20} {s.language or 'auto':<5} {s.safe_stream_url}")
    typer.echo(
        f"{settings.stations_file}: {len(registry.stations)} stations, {len(registry.enabled)} enabled, valid"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(stations_app, name="stations")
