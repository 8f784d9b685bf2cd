"""Options and error handling shared by the `pige` commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:  # pydantic is imported when settings are needed, not by every command's start-up
    from pige_pipeline.settings import PigeSettings
    from pige_pipeline.stations import StationsFile

DataRootOption = Annotated[
    Path | None, typer.Option("--data-root", help="Data root (default: PIGE_DATA_ROOT or ./data).")
]
StationsOption = Annotated[
    Path | None,
    typer.Option("--stations", help="stations.yaml (default: PIGE_STATIONS or DATA_ROOT/stations.yaml)."),
]


def resolve_settings(data_root: Path | None = None, stations: Path | None = None) -> PigeSettings:
    from pige_pipeline.settings import PigeSettings

    base = PigeSettings.from_env()
    root = data_root.resolve() if data_root else base.data_root
    stations_file = stations or (root / "stations.yaml" if data_root else base.stations_file)
    catalogue = base.catalogue_file if not data_root else root / "catalogue" / "catalogue.csv"
    return PigeSettings(data_root=root, stations_file=stations_file, catalogue_file=catalogue)


def load_stations_or_exit(path: Path) -> StationsFile:
    from pige_pipeline.stations import StationsFileError, load_stations

    try:
        return load_stations(path)
    except StationsFileError as exc:
        fail(str(exc))
        raise  # unreachable; keeps type checkers happy


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
