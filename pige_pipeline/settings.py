"""Where pige keeps its files: one data root, overridable from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PigeSettings:
    """Paths every part of pige agrees on. Build it with `PigeSettings.from_env()`."""

    data_root: Path
    stations_file: Path
    catalogue_file: Path

    @classmethod
    def from_env(cls) -> PigeSettings:
        data_root = Path(os.environ.get("PIGE_DATA_ROOT", REPO_ROOT / "data")).resolve()
        stations = Path(os.environ.get("PIGE_STATIONS", data_root / "stations.yaml"))
        catalogue = Path(os.environ.get("PIGE_CATALOGUE", data_root / "catalogue" / "catalogue.csv"))
        return cls(data_root=data_root, stations_file=stations, catalogue_file=catalogue)

    @property
    def chunks_dir(self) -> Path:
        return self.data_root / "chunks"

    @property
    def parquet_dir(self) -> Path:
        return self.data_root / "parquet"

    @property
    def recorder_dir(self) -> Path:
        return self.data_root / "recorder"

    @property
    def reports_dir(self) -> Path:
        return self.data_root / "reports"

    @property
    def state_dir(self) -> Path:
        return self.data_root / "state"
