"""GET /transcripts/search: transcript segments containing a phrase (operators and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from pige_pipeline.api.auth import Operator, station_condition, stations_for
from pige_pipeline.api.models import BAD_REQUEST, ERRORS, Page, TranscriptHit
from pige_pipeline.api.query import analytics, fetch, localise, station_zones
from pige_pipeline.api.routers.common import (
    CursorParam,
    Limit,
    Since,
    StationFilter,
    Until,
    after_cursor,
    next_cursor,
    time_condition,
)

router = APIRouter(tags=["transcripts"], responses=ERRORS)
LISTING = "transcripts"


@router.get("/transcripts/search", response_model=Page[TranscriptHit], responses=BAD_REQUEST)
def search_transcripts(
    request: Request,
    token: Operator,
    q: Annotated[str, Query(min_length=2, max_length=200, description="Words to find (case-insensitive).")],
    station: StationFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> dict:
    """Segments whose text contains `q`, in start order (segments Whisper's filters dropped are left out)."""
    stations, station_params = station_condition("station", stations_for(token, station))
    times, time_params = time_condition("start", since, until)
    after, after_params = after_cursor(cursor, LISTING, "start", "coalesce(segment_id, '')")
    with analytics(request) as db:
        rows = fetch(
            db,
            f"""
            SELECT segment_id, station, epoch_us(start) AS start, epoch_us("end") AS "end", text, language,
                   epoch_us(start) AS _start_us, coalesce(segment_id, '') AS _id
            FROM transcripts
            WHERE {stations} AND {times} AND {after} AND NOT coalesce(dropped, false)
              AND start IS NOT NULL AND text IS NOT NULL
              AND contains(lower(text), lower(?))
            ORDER BY start, _id LIMIT {limit + 1}
            """,
            [*station_params, *time_params, *after_params, q],
        )
        zones = station_zones(db)
    following = next_cursor(rows, limit, LISTING, "_id")
    return {"items": localise(rows, ("start", "end"), zones), "next_cursor": following}
