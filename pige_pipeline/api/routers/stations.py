"""GET /stations: the stations the token may read, with the zone their times are given in."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Request

from pige_pipeline.api.auth import RightsHolderReader, station_condition, stations_for
from pige_pipeline.api.models import ERRORS, NOT_FOUND, StationOut
from pige_pipeline.api.query import analytics, fetch
from pige_pipeline.stations import STATION_ID_PATTERN

router = APIRouter(tags=["stations"], responses=ERRORS)
STATION_PATH = Path(pattern=STATION_ID_PATTERN.pattern, description="A station id from stations.yaml.")
_COLUMNS = "station, name, timezone, language, enabled, in_registry"


@router.get("/stations", response_model=list[StationOut])
def list_stations(request: Request, token: RightsHolderReader) -> list[dict]:
    """Stations this token may read."""
    condition, params = station_condition("station", stations_for(token, None))
    with analytics(request) as cursor:
        return fetch(cursor, f"SELECT {_COLUMNS} FROM stations WHERE {condition} ORDER BY station", params)


@router.get("/stations/{station}", response_model=StationOut, responses=NOT_FOUND)
def get_station(request: Request, token: RightsHolderReader, station: str = STATION_PATH) -> dict:
    """One station (403 outside the token's stations)."""
    stations_for(token, station)
    with analytics(request) as cursor:
        rows = fetch(cursor, f"SELECT {_COLUMNS} FROM stations WHERE station = ?", [station])
    if not rows:
        raise HTTPException(status_code=404, detail=f"no station {station!r} in the analytics database")
    return rows[0]
