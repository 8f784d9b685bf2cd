"""Monthly statements, per station and per rights holder, over each station's own month, as JSON or CSV.

A play counts once, whole, in the month it started in, in its station's time zone (stations.yaml
`timezone`): a play at 23:30 UTC on 31 March in Europe/Paris belongs to April. `seconds` is the sum of
the play's pieces, as in the airplay report.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from pige_pipeline.api.auth import RightsHolderReader, Viewer, stations_for
from pige_pipeline.api.models import ERRORS, RightsHolderStatementLine, Statement, StationStatementLine
from pige_pipeline.api.query import Analytics, analytics, fetch, localise, station_zones
from pige_pipeline.api.routers.common import StationFilter
from pige_pipeline.api.times import MONTH_PATTERN, month_bounds

router = APIRouter(tags=["statements"], responses=ERRORS)
Month = Annotated[str, Path(pattern=MONTH_PATTERN, description="YYYY-MM, in each station's time zone.")]
Format = Annotated[Literal["json", "csv"], Query(description="json, or csv for a spreadsheet.")]
RIGHTS_COLUMNS = ("publisher", "label", "composer")
NO_RIGHTS_NOTE = (
    "The catalogue has no publisher, label or composer column: lines are grouped by artist instead."
)
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
STATION_STATEMENT = TypeAdapter(Statement[StationStatementLine])


def _month_condition(
    zones: dict[str, ZoneInfo], month: str, stations: list[str] | None
) -> tuple[str, list[object]]:
    """SQL condition on `p` (plays) for each readable station's own month, with its parameters.

    One clause per time zone (`station IN (...) AND start in [lo, hi)`), plain column filters that
    DuckDB checks against the zone maps of `plays` (stored in station, start order): it reads the
    blocks of those stations' month and skips the rest.
    """
    chosen = sorted(zones) if stations is None else [s for s in stations if s in zones]
    by_zone: dict[str, list[str]] = {}
    for station in chosen:
        by_zone.setdefault(zones[station].key, []).append(station)
    clauses: list[str] = []
    params: list[object] = []
    for members in by_zone.values():
        lo, hi = month_bounds(month, zones[members[0]])
        marks = ", ".join("?" for _ in members)
        in_zone = "p.station = ?" if len(members) == 1 else f"p.station IN ({marks})"
        clauses.append(f"({in_zone} AND p.start >= ? AND p.start < ?)")
        params.extend([*members, lo, hi])
    return " OR ".join(clauses) or "false", params


def _csv_body(lines: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for line in lines:
        writer.writerow({k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in line.items()})
    return out.getvalue().encode()


def _csv(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/statements/{month}/stations",
    response_model=Statement[StationStatementLine],
    responses={200: {"content": CSV_CONTENT}},
)
async def station_statement(
    request: Request, token: Viewer, month: Month, station: StationFilter = None, format: Format = "json"
) -> Any:
    """Per station and track: plays, seconds aired, first and last play (in the station's zone)."""
    readable = stations_for(token, station)
    key = ("station_statement", month, None if readable is None else tuple(readable), format)
    with analytics(request) as db:

        def lines() -> list[dict[str, Any]]:
            zones = station_zones(db)
            where, params = _month_condition(zones, month, readable)
            found = fetch(
                db,
                f"""
                SELECT p.station, p.track_id, arg_min(p.title, p.start) AS title,
                       arg_min(p.artist, p.start) AS artist, arg_min(p.isrc, p.start) AS isrc,
                       count(*) AS plays, round(sum(p.seconds), 3) AS seconds,
                       epoch_us(min(p.start)) AS first_play, epoch_us(max(p.start)) AS last_play
                FROM plays p WHERE {where}
                GROUP BY p.station, p.track_id
                ORDER BY p.station, plays DESC, seconds DESC, p.track_id
                """,
                params,
            )
            return localise(found, ("first_play", "last_play"), zones)

        # A statement only changes with the build: computed once per build, scope and format.
        if format == "csv":
            columns = list(StationStatementLine.model_fields)
            body = await db.serve_body(key, lambda: _csv_body(lines(), columns))
            return _csv(body, f"statement-stations-{month}.csv")
        return await db.serve_json(
            key,
            STATION_STATEMENT,
            lambda: {"month": month, "period": "local", "lines": lines(), "notes": []},
        )


def _rights_columns(db: Analytics) -> list[str]:
    """The catalogue's rights-holder columns, read once per build."""
    rights = db.memo.get("rights_holder_columns")
    if rights is None:
        row = db.execute("SELECT value FROM build_info WHERE key = 'rights_holder_columns'").fetchone()
        known = json.loads(row[0]) if row else []
        rights = db.memo["rights_holder_columns"] = [c for c in known if c in RIGHTS_COLUMNS]
    return list(rights)  # type: ignore[call-overload]


@router.get(
    "/statements/{month}/rights-holders",
    response_model=Statement[RightsHolderStatementLine],
    responses={200: {"content": CSV_CONTENT}},
)
def rights_holder_statement(
    request: Request,
    token: RightsHolderReader,
    month: Month,
    station: StationFilter = None,
    rights_holder: Annotated[
        str | None, Query(max_length=200, description="Only this rights holder.")
    ] = None,
    format: Format = "json",
) -> Any:
    """Per rights holder (publisher, label, composer) and track, over the token's stations."""
    readable = stations_for(token, station)
    notes: list[str] = []
    with analytics(request) as db:
        where, params = _month_condition(station_zones(db), month, readable)
        rights = _rights_columns(db)
        if rights:
            parts = [
                f"SELECT '{c}' AS role, {c} AS rights_holder, * FROM p WHERE {c} IS NOT NULL" for c in rights
            ]
            parts.append(
                "SELECT 'unassigned' AS role, '(none in the catalogue)' AS rights_holder, * FROM p WHERE "
                + " AND ".join(f"{c} IS NULL" for c in rights)
            )
            holders = " UNION ALL BY NAME ".join(parts)
        else:
            notes.append(NO_RIGHTS_NOTE)
            holders = (
                "SELECT 'artist' AS role, coalesce(artist, '(unknown artist)') AS rights_holder, * FROM p"
            )
        holders_asked = [rights_holder] if rights_holder is not None else []
        if token.rights_holders:
            # A rights holder's token reads its own lines, and nothing more.
            if rights_holder is not None and rights_holder not in token.rights_holders:
                raise HTTPException(
                    status_code=403, detail=f"this token may not read {rights_holder!r}'s lines"
                )
            holders_asked = holders_asked or list(token.rights_holders)
        holder_filter = (
            f"WHERE rights_holder IN ({', '.join('?' for _ in holders_asked)})" if holders_asked else ""
        )
        lines = fetch(
            db,
            f"""
            WITH p AS (SELECT p.* FROM plays p WHERE {where}),
            h AS ({holders})
            SELECT role, rights_holder, track_id, arg_min(title, start) AS title,
                   arg_min(artist, start) AS artist, arg_min(isrc, start) AS isrc,
                   count(*) AS plays, round(sum(seconds), 3) AS seconds, count(DISTINCT station) AS stations,
                   epoch_us(min(start)) AS first_play, epoch_us(max(start)) AS last_play
            FROM h {holder_filter} GROUP BY role, rights_holder, track_id
            ORDER BY role, rights_holder, plays DESC, track_id
            """,
            [*params, *holders_asked],
        )
    localise(lines, ("first_play", "last_play"), None)
    if format == "csv":
        return _csv(
            _csv_body(lines, list(RightsHolderStatementLine.model_fields)),
            f"statement-rights-holders-{month}.csv",
        )
    return {"month": month, "period": "local", "lines": lines, "notes": notes}
