"""GET /coverage: recorded seconds per station-hour and the recorder's gaps, over at most 31 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import AwareDatetime

from pige_pipeline.api.auth import Viewer, station_condition, stations_for
from pige_pipeline.api.models import BAD_REQUEST, ERRORS, Coverage
from pige_pipeline.api.query import analytics, fetch, localise, station_zones
from pige_pipeline.api.routers.common import StationFilter

router = APIRouter(tags=["coverage"], responses=ERRORS)
MAX_SPAN = timedelta(days=31)


@router.get("/coverage", response_model=Coverage, responses=BAD_REQUEST)
def coverage(
    request: Request,
    token: Viewer,
    since: Annotated[AwareDatetime, Query(description="First hour (ISO 8601 with offset).")],
    until: Annotated[AwareDatetime, Query(description="End of the span, at most 31 days after `since`.")],
    station: StationFilter = None,
) -> dict:
    """Each station-hour's recording status (`not_processed` when no row exists) and the gaps in the span."""
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = until.astimezone(UTC)
    if not start < end or end - start > MAX_SPAN:
        raise HTTPException(
            status_code=400,
            detail="`until` must be after `since` and at most 31 days later: ask for a shorter span",
        )
    if start.year < 1970 or end > datetime(9000, 1, 1, tzinfo=UTC):
        raise HTTPException(status_code=400, detail="the span must lie between 1970 and 9000")
    stations, station_params = station_condition("station", stations_for(token, station))
    with analytics(request) as db:
        hours = fetch(
            db,
            f"""
            WITH s AS (SELECT station FROM stations WHERE {stations}),
            grid AS (
                SELECT s.station, h.hour FROM s,
                     (SELECT unnest(generate_series(?::TIMESTAMPTZ, ?::TIMESTAMPTZ - INTERVAL 1 MICROSECOND,
                                                    INTERVAL 1 HOUR)) AS hour) h
            )
            SELECT g.station, epoch_us(g.hour) AS hour, coalesce(a.status, 'not_processed') AS status,
                   round(coalesce(a.duration_s, 0), 1) AS recorded_s,
                   round(coalesce(a.coverage, 0), 4) AS coverage,
                   round(coalesce(a.gap_s, 3600), 1) AS gap_s, coalesce(a.gap_causes, '') AS gap_causes
            FROM grid g LEFT JOIN (
                SELECT * FROM audio_chunks WHERE hour >= ? AND hour < ? AND {stations}
            ) a ON a.station = g.station AND a.hour = g.hour
            ORDER BY g.station, g.hour
            """,
            [*station_params, start, end, start, end, *station_params],
        )
        gaps = fetch(
            db,
            f"""
            SELECT station, epoch_us(start) AS start, epoch_us("end") AS "end", cause, detail,
                   open AS still_open
            FROM gaps WHERE start < ? AND end_or_now > ? AND {stations} ORDER BY station, start
            """,
            [end, start, *station_params],
        )
        zones = station_zones(db)
    return {"hours": localise(hours, ("hour",), zones), "gaps": localise(gaps, ("start", "end"), zones)}
