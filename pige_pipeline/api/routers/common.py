"""What the listings share: their query parameters and `paged_listing`, the keyset-paged read.

Each listing (plays, dead air, transcript search) reads one table in (start, id) order, limited to
the token's stations, a time range and the page after the cursor. The conditions are plain
comparisons on the stored columns (`station = ?`, `start >= ? AND start < ?`), with no function
around the filtered column, so DuckDB checks them against its zone maps and skips the blocks of other
stations and months (`plays` and `dead_air_events` are stored in (station, start) order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import HTTPException, Query, Request, Response
from pydantic import AwareDatetime, TypeAdapter

from pige_pipeline.api.auth import station_condition
from pige_pipeline.api.paging import Cursor, CursorError
from pige_pipeline.api.query import analytics, fetch, localise, station_zones
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


@dataclass(frozen=True)
class Listing:
    """A cursor-paged listing of one table, in (start, id) order.

    `columns` is the SELECT list (instants as `epoch_us(...)`, turned into the station's zone for the
    `times` columns); `id_sql` the expression that breaks ties between rows of the same start (never
    null); `where` the listing's own fixed conditions; `page` the response's model. `name` tells its
    cursors from other listings'.
    """

    name: str
    table: str
    columns: str
    id_sql: str
    times: tuple[str, ...]
    page: TypeAdapter = field(compare=False)
    where: str = "true"


async def paged_listing(
    request: Request,
    listing: Listing,
    *,
    stations: list[str] | None,
    since: AwareDatetime | None,
    until: AwareDatetime | None,
    limit: int,
    cursor: str | None,
    conditions: Sequence[tuple[str, Sequence[object]]] = (),
) -> Response:
    """One page of `listing`, `{"items": [...], "next_cursor": ...}`, as a JSON response.

    `stations` are the readable ones (`stations_for`: None is every station); `conditions` the
    request's own filters, each an SQL condition with its parameters. The page is computed once per
    build, in a worker thread: asked for again (same scope, filters and cursor), it comes from the
    build's cache, on the event loop.
    """
    parts = [
        station_condition("station", stations),
        time_condition("start", since, until),
        after_cursor(cursor, listing.name, "start", listing.id_sql),
        (listing.where, []),
        *conditions,
    ]
    where = " AND ".join(f"({sql})" for sql, _ in parts)
    params = [p for _, values in parts for p in values]
    key = (listing.name, where, tuple(params), limit)

    with analytics(request) as db:

        def page() -> dict:
            rows = fetch(
                db,
                f"""
                SELECT {listing.columns}, epoch_us(start) AS _start_us, {listing.id_sql} AS _id
                FROM {listing.table} WHERE {where}
                ORDER BY start, _id LIMIT {limit + 1}
                """,
                params,
            )
            following = next_cursor(rows, limit, listing.name, "_id")
            return {"items": localise(rows, listing.times, station_zones(db)), "next_cursor": following}

        return await db.serve_json(key, listing.page, page)
