"""Running a read on the current analytics build, and giving its times in each station's zone."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
from fastapi import Request, Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from pige_pipeline.api.analytics_db import AnalyticsReader, ResponseCache
from pige_pipeline.api.times import from_epoch_us, zone

UTC_ZONE = ZoneInfo("UTC")


class Analytics:
    """One request's read of one analytics build: a cursor on it (taken on first use) and its memo.

    Everything a request reads through it comes from the same build, even when a new one is swapped
    in meanwhile.
    """

    def __init__(self, instance: duckdb.DuckDBPyConnection, memo: dict[str, object]) -> None:
        self._instance = instance
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self.memo = memo

    @property
    def cursor(self) -> duckdb.DuckDBPyConnection:
        if self._cursor is None:
            self._cursor = AnalyticsReader.cursor_on(self._instance)
        return self._cursor

    def execute(self, sql: str, params: Sequence[object] = ()) -> duckdb.DuckDBPyConnection:
        return self.cursor.execute(sql, list(params))

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def cached_body(self, key: Hashable, compute: Callable[[], bytes]) -> bytes:
        """`compute()`, run once per build for each `key`: `key` must name everything it depends on."""
        cache: ResponseCache = self.memo["responses"]  # type: ignore[assignment]
        body = cache.get(key)
        if body is None:
            body = compute()
            cache.put(key, body)
        return body

    def cached_json(self, key: Hashable, adapter: TypeAdapter, compute: Callable[[], object]) -> Response:
        """The JSON response of `compute()`, validated and serialised by `adapter`, once per build."""
        body = self.cached_body(key, lambda: adapter.dump_json(adapter.validate_python(compute())))
        return Response(body, media_type="application/json")

    async def serve_body(self, key: Hashable, compute: Callable[[], bytes]) -> bytes:
        """`cached_body` for an async route: a hit is answered on the event loop, a miss computed (DuckDB)
        in a worker thread."""
        cache: ResponseCache = self.memo["responses"]  # type: ignore[assignment]
        body = cache.get(key)
        if body is None:
            body = await run_in_threadpool(self.cached_body, key, compute)
        return body

    async def serve_json(
        self, key: Hashable, adapter: TypeAdapter, compute: Callable[[], object]
    ) -> Response:
        """`cached_json` for an async route (see `serve_body`)."""
        body = await self.serve_body(key, lambda: adapter.dump_json(adapter.validate_python(compute())))
        return Response(body, media_type="application/json")


@contextmanager
def analytics(request: Request) -> Iterator[Analytics]:
    """A read of the newest analytics build; its cursor is closed after the request's read."""
    reader: AnalyticsReader = request.app.state.reader
    read = Analytics(*reader.build())
    try:
        yield read
    finally:
        read.close()


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
