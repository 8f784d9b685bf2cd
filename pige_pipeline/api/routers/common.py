"""Query parameters shared by the listings: station, time range, page size and cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Query
from pydantic import AwareDatetime

from pige_pipeline.api.paging import Cursor, CursorError
from pige_pipeline.stations import STATION_ID_PATTERN

StationFilter = Annotated[
    str | None,
    Query(pattern=STATION_ID_PATTERN.pattern, description="Only this station (a stations.yaml id)."),
]
Since = Annotated[
    AwareDatetime | None,
    Query(description="Only items starting at or after this instant (ISO 8601 with offset)."),
]
Until = Annotated[
    AwareDatetime | None, Query(description="Only items starting before this instant (ISO 8601 with offset).")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
CursorParam = Annotated[
    str | None, Query(max_length=400, description="`next_cursor` of the previous page; none for the first.")
]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


def time_condition(column: str, since: AwareDatetime | None, until: AwareDatetime | None) -> tuple[str, list]:
    parts, params = [], []
    if since is not None:
        parts.append(f"{column} >= ?")
        params.append(since)
    if until is not None:
        parts.append(f"{column} < ?")
        params.append(until)
    return " AND ".join(parts) or "true", params


def after_cursor(cursor: str | None, listing: str, start_column: str, id_column: str) -> tuple[str, list]:
    """The keyset condition of a page after `cursor` (400 for a cursor this listing did not hand out)."""
    if cursor is None:
        return "true", []
    try:
        return Cursor.decode(cursor, listing).after(start_column, id_column)
    except CursorError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


def next_cursor(rows: list[dict], limit: int, listing: str, id_column: str) -> str | None:
    """Cut the look-ahead row; the cursor after the page's last row, or None on the last page."""
    if len(rows) <= limit:
        return None
    del rows[limit:]
    last = rows[-1]
    return Cursor(last["_start_us"], str(last[id_column])).encode(listing)
