"""Running a read on the current analytics build, and giving its times in each station's zone."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
from fastapi import Request

from pige_pipeline.api.analytics_db import AnalyticsReader
from pige_pipeline.api.times import from_epoch_us, zone

UTC_ZONE = ZoneInfo("UTC")


class Analytics:
    """One request's read of one analytics build: a cursor on it and the build's memo.

    Everything a request reads through it comes from the same build, even when a new one is swapped
    in meanwhile.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection, memo: dict[str, object]) -> None:
        self.cursor = cursor
        self.memo = memo

    def execute(self, sql: str, params: Sequence[object] = ()) -> duckdb.DuckDBPyConnection:
        return self.cursor.execute(sql, list(params))


@contextmanager
def analytics(request: Request) -> Iterator[Analytics]:
    """A read of the newest analytics build, its cursor closed after the request's read."""
    reader: AnalyticsReader = request.app.state.reader
    cursor, memo = reader.open()
    try:
        yield Analytics(cursor, memo)
    finally:
        cursor.close()


def fetch(db: Analytics, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    """The rows of a query as dicts (plain Python values: no DataFrame on the way)."""
    result = db.execute(sql, params)
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def station_zones(db: Analytics) -> dict[str, ZoneInfo]:
    """Each station's time zone, read once per build."""
    zones = db.memo.get("station_zones")
    if zones is None:
        rows = db.execute("SELECT station, timezone FROM stations").fetchall()
        zones = {station: zone(tz) for station, tz in rows}
        db.memo["station_zones"] = zones
    return zones  # type: ignore[return-value]


def localise(
    rows: list[dict[str, Any]], columns: Sequence[str], zones: dict[str, ZoneInfo] | None
) -> list[dict[str, Any]]:
    """Turn the `epoch_us` columns of each row into datetimes in its station's zone (UTC without zones)."""
    for row in rows:
        tz = zones.get(row.get("station", ""), UTC_ZONE) if zones is not None else UTC_ZONE
        for column in columns:
            row[column] = from_epoch_us(row[column], tz)
    return rows
