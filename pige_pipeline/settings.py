"""Where pige keeps its files: one data root, overridable from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # pydantic loads only where a model is read, not with every settings import
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

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


def model_from_env(model: type[M], variables: Mapping[str, str], what: str) -> M:
    """Validate a pydantic settings model from environment variables (field -> variable name).

    Unset or empty variables keep the model's defaults. Errors name the variable to fix, as a station
    engineer reads them: "<what> from the environment are not usable: PIGE_X: ...".
    """
    from pydantic import ValidationError

    values = {field: raw for field, var in variables.items() if (raw := os.environ.get(var))}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            (f"{variables[str(e['loc'][0])]}: " if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise ValueError(f"{what} from the environment are not usable: {problems}") from None
