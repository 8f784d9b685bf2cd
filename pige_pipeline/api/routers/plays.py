"""GET /plays (filtered, cursor-paged) and GET /plays/{play_id}: stitched plays from `plays`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request

from pige_pipeline.api.auth import Viewer, station_condition, stations_for
from pige_pipeline.api.models import BAD_REQUEST, ERRORS, NOT_FOUND, Page, PlayOut
from pige_pipeline.api.query import analytics, fetch, localise, station_zones
from pige_pipeline.api.routers.common import (
    ID_PATTERN,
    CursorParam,
    Limit,
    Since,
    StationFilter,
    Until,
    after_cursor,
    next_cursor,
    time_condition,
)

router = APIRouter(tags=["plays"], responses=ERRORS)
LISTING = "plays"
_SELECT = """
    SELECT play_id, station, track_id, title, artist, isrc,
           epoch_us(start) AS start, epoch_us("end") AS "end", seconds, segments, score, confidence,
           epoch_us(start) AS _start_us
    FROM plays
"""


@router.get("/plays", response_model=Page[PlayOut], responses=BAD_REQUEST)
def list_plays(
    request: Request,
    token: Viewer,
    station: StationFilter = None,
    track_id: Annotated[str | None, Query(max_length=200, description="Only this catalogue track.")] = None,
    isrc: Annotated[str | None, Query(max_length=32, description="Only plays of this ISRC.")] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> dict:
    """Plays in start order, in the station's time zone."""
    stations, station_params = station_condition("station", stations_for(token, station))
    times, time_params = time_condition("start", since, until)
    after, after_params = after_cursor(cursor, LISTING, "start", "play_id")
    conditions = [stations, times, after]
    params: list[object] = [*station_params, *time_params, *after_params]
    if track_id is not None:
        conditions.append("track_id = ?")
        params.append(track_id)
    if isrc is not None:
        conditions.append("isrc = ?")
        params.append(isrc)
    with analytics(request) as db:
        rows = fetch(
            db,
            f"{_SELECT} WHERE {' AND '.join(conditions)} ORDER BY start, play_id LIMIT {limit + 1}",
            params,
        )
        zones = station_zones(db)
    following = next_cursor(rows, limit, LISTING, "play_id")
    return {"items": localise(rows, ("start", "end"), zones), "next_cursor": following}


@router.get("/plays/{play_id}", response_model=PlayOut, responses=NOT_FOUND)
def get_play(
    request: Request,
    token: Viewer,
    play_id: Annotated[str, Path(pattern=ID_PATTERN, description="A play id from /plays.")],
) -> dict:
    """One play (404 when it does not exist or belongs to a station outside the token's)."""
    stations, params = station_condition("station", stations_for(token, None))
    with analytics(request) as db:
        rows = fetch(db, f"{_SELECT} WHERE play_id = ? AND {stations}", [play_id, *params])
        zones = station_zones(db)
    if not rows:
        raise HTTPException(status_code=404, detail=f"no play {play_id!r} among this token's stations")
    return localise(rows, ("start", "end"), zones)[0]
