"""What the endpoints return on the demo hour: local times, statements (JSON and CSV), coverage, dead air."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import httpx

from pige_pipeline.analytics.build import db_path
from tests.api.support import DEMO, OTHER, OTHER_ZONE, ApiServer, Tokens


def _plays(server: ApiServer) -> list[tuple]:
    con = duckdb.connect(str(db_path(server.root)), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(
            "SELECT play_id, station, track_id, start, seconds FROM plays ORDER BY station, start"
        ).fetchall()
    finally:
        con.close()


def test_times_are_iso_8601_in_the_stations_zone(server: ApiServer, tokens: Tokens) -> None:
    rows = _plays(server)
    with server.client(tokens.admin) as admin:
        for play_id, station, _track, start, _seconds in rows[:: max(len(rows) // 6, 1)]:
            got = admin.get(f"/plays/{play_id}").json()
            local = datetime.fromisoformat(got["start"])
            zone = ZoneInfo("Europe/Paris" if station == DEMO else OTHER_ZONE)
            assert local == start and local.utcoffset() == start.astimezone(zone).utcoffset()
        paris, montreal = admin.get("/stations/demo-fm").json(), admin.get(f"/stations/{OTHER}").json()
    assert (paris["timezone"], montreal["timezone"]) == ("Europe/Paris", OTHER_ZONE)


def test_time_filters_take_offsets_and_refuse_naive_times(server: ApiServer, tokens: Tokens) -> None:
    rows = [r for r in _plays(server) if r[1] == DEMO]
    middle = rows[len(rows) // 2][3]
    with server.client(tokens.admin) as admin:
        since = middle.astimezone(ZoneInfo("Asia/Tokyo")).isoformat()
        got = admin.get("/plays", params={"station": DEMO, "since": since, "limit": 1000}).json()["items"]
        assert [p["play_id"] for p in got] == [r[0] for r in rows if r[3] >= middle]
        naive = admin.get("/plays", params={"since": "2026-01-01T00:00:00"})
        assert naive.status_code == 422 and "timezone" in naive.text


def test_monthly_statements_per_station_and_rights_holder_json_and_csv(
    server: ApiServer, tokens: Tokens
) -> None:
    rows = _plays(server)
    month = rows[0][3].astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m")
    with server.client(tokens.viewer_demo) as viewer:
        statement = viewer.get(f"/statements/{month}/stations").json()
        expected: dict[str, int] = {}
        for _id, station, track, _start, _s in rows:
            if station == DEMO:
                expected[track] = expected.get(track, 0) + 1
        assert {line["track_id"]: line["plays"] for line in statement["lines"]} == expected
        assert {line["station"] for line in statement["lines"]} == {DEMO}
        as_csv = viewer.get(f"/statements/{month}/stations", params={"format": "csv"})
        assert as_csv.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert [(r["track_id"], int(r["plays"])) for r in table] == [
            (line["track_id"], line["plays"]) for line in statement["lines"]
        ]
        holders = viewer.get(f"/statements/{month}/rights-holders").json()
        # The demo catalogue names a publisher for every track: each play is counted once, under it.
        assert sum(line["plays"] for line in holders["lines"]) == sum(expected.values())
        assert {line["role"] for line in holders["lines"]} == {"publisher"}
        assert {line["stations"] for line in holders["lines"]} == {1}
        assert viewer.get("/statements/2026-13/stations").status_code == 422
    with server.client(tokens.admin) as admin:
        both = admin.get(f"/statements/{month}/rights-holders").json()
        assert sum(line["plays"] for line in both["lines"]) == len(rows)


def test_a_play_counts_in_its_stations_local_month(server: ApiServer, tokens: Tokens) -> None:
    """The statement month is the station's: a month whose local bounds exclude the hour is empty."""
    start = _plays(server)[0][3]
    local = start.astimezone(ZoneInfo("Europe/Paris"))
    with server.client(tokens.admin) as admin:
        same = admin.get(f"/statements/{local:%Y-%m}/stations", params={"station": DEMO}).json()
        before = (local.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        earlier = admin.get(f"/statements/{before}/stations", params={"station": DEMO}).json()
    assert same["lines"] and not earlier["lines"]


def test_coverage_dead_air_and_health(server: ApiServer, tokens: Tokens) -> None:
    start = _plays(server)[0][3].astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    with server.client(tokens.viewer_demo) as viewer:
        coverage = viewer.get(
            "/coverage",
            params={
                "since": (start - timedelta(hours=1)).isoformat(),
                "until": (start + timedelta(hours=1)).isoformat(),
            },
        )
        assert coverage.status_code == 200, coverage.text
        hours = coverage.json()["hours"]
        assert [h["status"] for h in hours] == ["not_processed", "ok"]
        assert hours[1]["recorded_s"] > 3000 and hours[1]["hour"].endswith(("+01:00", "+02:00"))
        too_long = viewer.get(
            "/coverage", params={"since": "2026-01-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"}
        )
        assert too_long.status_code == 400 and "31 days" in too_long.json()["detail"]
        alerts = viewer.get("/dead-air").json()["items"]
        assert alerts, "the demo programme has dead air"
        assert all(a["station"] == DEMO and a["severity"] in ("info", "warning", "critical") for a in alerts)
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["analytics_built_at"]
    document = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/plays", "/evidence/{item_id}", "/metrics", "/statements/{month}/stations"} <= set(
        document["paths"]
    )
