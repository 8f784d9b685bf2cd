"""The resource every pige asset uses to find its data root and its stations."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pige_pipeline.settings import PigeSettings
from pige_pipeline.stations import StationsFile, load_stations


class PigeResource(dg.ConfigurableResource):
    """Data root and station registry. Empty fields fall back to PIGE_DATA_ROOT / PIGE_STATIONS."""

    data_root: str = ""
    stations_file: str = ""
    catalogue_file: str = ""

    def settings(self) -> PigeSettings:
        base = PigeSettings.from_env()
        data_root = Path(self.data_root).resolve() if self.data_root else base.data_root
        stations = (
            Path(self.stations_file)
            if self.stations_file
            else (base.stations_file if not self.data_root else data_root / "stations.yaml")
        )
        catalogue = (
            Path(self.catalogue_file)
            if self.catalogue_file
            else (base.catalogue_file if not self.data_root else data_root / "catalogue" / "catalogue.csv")
        )
        return PigeSettings(data_root=data_root, stations_file=stations, catalogue_file=catalogue)

    def stations(self) -> StationsFile:
        return load_stations(self.settings().stations_file)
