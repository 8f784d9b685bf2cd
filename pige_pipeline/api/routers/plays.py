"""GET /plays (filtered, cursor-paged) and GET /plays/{play_id}: stitched plays from `plays`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import TypeAdapter

from pige_pipeline.api.auth import Viewer, station_condition, stations_for
from pige_pipeline.api.models import BAD_REQUEST, ERRORS, NOT_FOUND, Page, PlayOut
from pige_pipeline.api.query import analytics, fetch, localise, station_zones
from pige_pipeline.api.routers.common import (
    ID_PATTERN,
    CursorParam,
    Limit,
    Listing,
    Since,
    StationFilter,
    Until,
    paged_listing,
)

router = APIRouter(tags=["plays"], responses=ERRORS)
_COLUMNS = """play_id, station, track_id, title, artist, isrc,
           epoch_us(start) AS start, epoch_us("end") AS "end", seconds, segments, score, confidence"""
PLAYS = Listing(
    name="plays",
    table="plays",
    columns=_COLUMNS,
    id_sql="play_id",
    times=("start", "end"),
    page=TypeAdapter(Page[PlayOut]),
)


@router.get("/plays", response_model=Page[PlayOut], responses=BAD_REQUEST)
async def list_plays(
    request: Request,
    token: Viewer,
    station: StationFilter = None,
    track_id: Annotated[str | None, Query(max_length=200, description="Only this catalogue track.")] = None,
    isrc: Annotated[str | None, Query(max_length=32, description="Only plays of this ISRC.")] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> Response:
    """Plays in start order, in the station's time zone."""
    conditions = []
    if track_id is not None:
        conditions.append(("track_id = ?", [track_id]))
    if isrc is not None:
        conditions.append(("isrc = ?", [isrc]))
    return await paged_listing(
        request,
        PLAYS,
        stations=stations_for(token, station),
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        conditions=conditions,
    )


@router.get("/plays/{play_id}", response_model=PlayOut, responses=NOT_FOUND)
def get_play(
    request: Request,
    token: Viewer,
    play_id: Annotated[str, Path(pattern=ID_PATTERN, description="A play id from /plays.")],
) -> dict:
    """One play (404 when it does not exist or belongs to a station outside the token's)."""
    stations, params = station_condition("station", stations_for(token, None))
    with analytics(request) as db:
        rows = fetch(db, f"SELECT {_COLUMNS} FROM plays WHERE play_id = ? AND {stations}", [play_id, *params])
        zones = station_zones(db)
    if not rows:
        raise HTTPException(status_code=404, detail=f"no play {play_id!r} among this token's stations")
    return localise(rows, ("start", "end"), zones)[0]
