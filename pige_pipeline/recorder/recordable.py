"""Which stations of stations.yaml can be recorded: one bad entry never stops the others."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from pige_pipeline.stations import Station, StationsFileError

# -- loading stations leniently --------------------------------------------------------------------------


def load_recordable_stations(path: Path) -> tuple[list[Station], list[str]]:
    """Stations of `path` that can be recorded, and one message per station that cannot.

    Unlike `load_stations`, one bad entry (a `file:` URL, a typo) does not stop the others: the
    recorder must keep recording every station it can.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StationsFileError(f"{path}: file not found (set PIGE_STATIONS or pass --stations)") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise StationsFileError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("stations"), list):
        raise StationsFileError(f"{path}: expected a mapping with a 'stations:' list at the top level")
    stations: list[Station] = []
    errors: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw["stations"], 1):
        label = f"station #{index}" + (f" ({entry.get('id')!r})" if isinstance(entry, dict) else "")
        try:
            station = Station.model_validate(entry)
        except ValidationError as exc:
            why = "; ".join(_field_error(e) for e in exc.errors())
            errors.append(f"{path}: {label} is not recorded: {why}")
            continue
        if station.id in seen:
            errors.append(f"{path}: {label}: id appears twice; the second entry is not recorded")
            continue
        seen.add(station.id)
        if station.enabled:
            stations.append(station)
    return stations, errors


def _field_error(error: dict) -> str:
    field_name = ".".join(str(p) for p in error["loc"]) or "(entry)"
    return f"field '{field_name}': {error['msg'].removeprefix('Value error, ')}"
