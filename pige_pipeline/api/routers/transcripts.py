"""GET /transcripts/search: transcript segments containing a phrase (operators and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from pige_pipeline.api.auth import Operator, stations_for
from pige_pipeline.api.models import BAD_REQUEST, ERRORS, Page, TranscriptHit
from pige_pipeline.api.routers.common import (
    CursorParam,
    Limit,
    Listing,
    Since,
    StationFilter,
    Until,
    paged_listing,
)

router = APIRouter(tags=["transcripts"], responses=ERRORS)
TRANSCRIPTS = Listing(
    page=TypeAdapter(Page[TranscriptHit]),
    name="transcripts",
    table="transcripts",
    columns='segment_id, station, epoch_us(start) AS start, epoch_us("end") AS "end", text, language',
    id_sql="coalesce(segment_id, '')",
    times=("start", "end"),
    where="NOT coalesce(dropped, false) AND start IS NOT NULL AND text IS NOT NULL",
)


@router.get("/transcripts/search", response_model=Page[TranscriptHit], responses=BAD_REQUEST)
async def search_transcripts(
    request: Request,
    token: Operator,
    q: Annotated[str, Query(min_length=2, max_length=200, description="Words to find (case-insensitive).")],
    station: StationFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response:
    """Segments whose text contains `q`, in start order (segments Whisper's filters dropped are left out)."""
    return await paged_listing(
        request,
        TRANSCRIPTS,
        stations=stations_for(token, station),
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        conditions=[("contains(lower(text), lower(?))", [q])],
    )
