"""GET /dead-air: dead-air events (alerts stitched across hours), cursor-paged, in the station's zone."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from pige_pipeline.api.auth import Viewer, station_condition, stations_for
from pige_pipeline.api.models import BAD_REQUEST, ERRORS, DeadAirOut, Page
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

router = APIRouter(tags=["dead air"], responses=ERRORS)
LISTING = "dead_air"


@router.get("/dead-air", response_model=Page[DeadAirOut], responses=BAD_REQUEST)
def list_dead_air(
    request: Request,
    token: Viewer,
    station: StationFilter = None,
    severity: Annotated[
        Literal["info", "warning", "critical"] | None, Query(description="Only this severity.")
    ] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> dict:
    """Dead-air events in start order, with severity, classification and notification status."""
    stations, station_params = station_condition("station", stations_for(token, station))
    times, time_params = time_condition("start", since, until)
    after, after_params = after_cursor(cursor, LISTING, "start", "alert_id")
    conditions = [stations, times, after, "alert_id IS NOT NULL"]
    params: list[object] = [*station_params, *time_params, *after_params]
    if severity is not None:
        conditions.append("severity = ?")
        params.append(severity)
    with analytics(request) as db:
        rows = fetch(
            db,
            f"""
            SELECT alert_id, alert_ids, station, epoch_us(start) AS start, epoch_us("end") AS "end",
                   round(duration_s, 3) AS duration_s, severity, classification, confidence,
                   notification_status, epoch_us(notified_at) AS notified_at, explanation,
                   epoch_us(start) AS _start_us
            FROM dead_air_events WHERE {" AND ".join(conditions)}
            ORDER BY start, alert_id LIMIT {limit + 1}
            """,
            params,
        )
        zones = station_zones(db)
    following = next_cursor(rows, limit, LISTING, "alert_id")
    return {"items": localise(rows, ("start", "end", "notified_at"), zones), "next_cursor": following}
