"""GET /dead-air: dead-air events (alerts stitched across hours), cursor-paged, in the station's zone."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from pige_pipeline.api.auth import Viewer, stations_for
from pige_pipeline.api.models import BAD_REQUEST, ERRORS, DeadAirOut, Page
from pige_pipeline.api.routers.common import (
    CursorParam,
    Limit,
    Listing,
    Since,
    StationFilter,
    Until,
    paged_listing,
)

router = APIRouter(tags=["dead air"], responses=ERRORS)
DEAD_AIR = Listing(
    page=TypeAdapter(Page[DeadAirOut]),
    name="dead_air",
    table="dead_air_events",
    columns="""alert_id, alert_ids, station, epoch_us(start) AS start, epoch_us("end") AS "end",
               round(duration_s, 3) AS duration_s, severity, classification, confidence,
               notification_status, epoch_us(notified_at) AS notified_at, explanation""",
    id_sql="alert_id",
    times=("start", "end", "notified_at"),
    where="alert_id IS NOT NULL",
)


@router.get("/dead-air", response_model=Page[DeadAirOut], responses=BAD_REQUEST)
async def list_dead_air(
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
) -> Response:
    """Dead-air events in start order, with severity, classification and notification status."""
    return await paged_listing(
        request,
        DEAD_AIR,
        stations=stations_for(token, station),
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        conditions=[("severity = ?", [severity])] if severity is not None else [],
    )
