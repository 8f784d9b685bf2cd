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


@contextmanager
def analytics(request: Request) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the newest analytics build, closed after the request's read."""
    reader: AnalyticsReader = request.app.state.reader
    cursor = reader.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def fetch(cursor: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    result = cursor.execute(sql, list(params))
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def station_zones(cursor: duckdb.DuckDBPyConnection) -> dict[str, ZoneInfo]:
    return {
        station: zone(tz)
        for station, tz in cursor.execute("SELECT station, timezone FROM stations").fetchall()
    }


def localise(
    rows: list[dict[str, Any]], columns: Sequence[str], zones: dict[str, ZoneInfo] | None
) -> list[dict[str, Any]]:
    """Turn the `epoch_us` columns of each row into datetimes in its station's zone (UTC without zones)."""
    for row in rows:
        tz = zones.get(row.get("station", ""), UTC_ZONE) if zones is not None else UTC_ZONE
        for column in columns:
            row[column] = from_epoch_us(row[column], tz)
    return rows
