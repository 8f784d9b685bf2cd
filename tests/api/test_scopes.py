"""Roles and station scopes on a live `pige api`: each token gets exactly its rows, and nothing leaks."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from pathlib import Path

import duckdb
import httpx
import pytest

from pige_pipeline.analytics.build import db_path
from pige_pipeline.api.tokens import TokenStore
from tests.api.support import DEMO, OTHER, PIGE, ApiServer, Tokens


def _all_pages(client: httpx.Client, path: str, **params: object) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        response = client.get(path, params={**params, "limit": 3, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _db(server: ApiServer, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db_path(server.root)), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_each_token_gets_exactly_the_plays_of_its_stations(server: ApiServer, tokens: Tokens) -> None:
    expected = {station: set() for station in (DEMO, OTHER)}
    for play_id, station in _db(server, "SELECT play_id, station FROM plays"):
        expected[station].add(play_id)
    assert expected[DEMO] and expected[OTHER], "the demo hour should have plays on both stations"
    with server.client(tokens.admin) as admin:
        assert {p["play_id"] for p in _all_pages(admin, "/plays")} == expected[DEMO] | expected[OTHER]
    with server.client(tokens.viewer_demo) as viewer:
        seen = _all_pages(viewer, "/plays")
        assert {p["play_id"] for p in seen} == expected[DEMO]
        assert {s["station"] for s in viewer.get("/stations").json()} == {DEMO}
    with server.client(tokens.viewer_other) as viewer:
        assert {p["play_id"] for p in _all_pages(viewer, "/plays")} == expected[OTHER]
    dead_air = {station for (station,) in _db(server, "SELECT DISTINCT station FROM dead_air_events")}
    with server.client(tokens.viewer_other) as viewer:
        stations = {a["station"] for a in _all_pages(viewer, "/dead-air")}
        assert stations == dead_air & {OTHER}


def test_an_item_of_another_station_is_404_and_a_station_filter_403(
    server: ApiServer, tokens: Tokens
) -> None:
    (other_play,) = _db(server, f"SELECT play_id FROM plays WHERE station = '{OTHER}' LIMIT 1")[0]
    (own_play,) = _db(server, f"SELECT play_id FROM plays WHERE station = '{DEMO}' LIMIT 1")[0]
    with server.client(tokens.viewer_demo) as viewer:
        assert viewer.get(f"/plays/{own_play}").status_code == 200
        hidden = viewer.get(f"/plays/{other_play}")
        missing = viewer.get("/plays/no-such-play")
        # The same answer as for an id that does not exist, so nothing tells that it does.
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["detail"].replace(other_play, "ID") == missing.json()["detail"].replace(
            "no-such-play", "ID"
        )
        assert viewer.get(f"/evidence/{other_play}").status_code == 403  # a viewer has no evidence at all
        assert viewer.get("/plays", params={"station": OTHER}).status_code == 403
        assert viewer.get(f"/stations/{OTHER}").status_code == 403
        assert viewer.get(f"/statements/2026-12/stations?station={OTHER}").status_code == 403
    with server.client(tokens.operator_demo) as operator:
        assert operator.get(f"/evidence/{other_play}").status_code == 404
    with server.client(tokens.admin) as admin:
        assert admin.get(f"/plays/{other_play}").json()["station"] == OTHER


def test_viewers_get_no_transcripts_or_evidence_operators_do(server: ApiServer, tokens: Tokens) -> None:
    with server.client(tokens.viewer_demo) as viewer:
        assert viewer.get("/transcripts/search", params={"q": "le"}).status_code == 403
        assert (
            viewer.get(
                "/coverage", params={"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}
            ).status_code
            == 200
        )
    # "appel" is one of the demo's watch terms: the French prompts say it several times.
    expected = _db(
        server, "SELECT station, count(*) FROM transcripts WHERE contains(lower(text), 'appel') GROUP BY ALL"
    )
    assert dict(expected).get(DEMO, 0) > 0
    with server.client(tokens.operator_demo) as operator:
        hits = operator.get("/transcripts/search", params={"q": "APPEL", "limit": 1000})
        assert hits.status_code == 200
        assert len(hits.json()["items"]) == dict(expected)[DEMO]
        assert {h["station"] for h in hits.json()["items"]} == {DEMO}
        assert all("appel" in h["text"].lower() for h in hits.json()["items"])
    with server.client(tokens.admin) as admin:
        both = admin.get("/transcripts/search", params={"q": "appel", "limit": 1000}).json()["items"]
        assert len(both) == sum(dict(expected).values())


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwdw==", "Bearer pige_000000000000_" + "A" * 43],
)
def test_a_missing_or_bad_token_is_401(server: ApiServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{server.url}/plays", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_token_commands_create_list_revoke_and_never_log_the_token(server: ApiServer, tokens: Tokens) -> None:
    env = {"PIGE_DATA_ROOT": str(server.root), "PATH": "/usr/bin:/bin"}
    created = subprocess.run(
        [str(PIGE), "api", "token", "create", "--name", "cli viewer", "--role", "viewer", "--stations", DEMO],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    token = created.stdout.strip()
    assert token.startswith("pige_") and token not in created.stderr
    token_id = token.split("_")[1]
    with server.client(token) as client:
        assert client.get("/stations").status_code == 200
    listed = subprocess.run(
        [str(PIGE), "api", "token", "ls"], env=env, capture_output=True, text=True, check=True
    )
    assert token_id in listed.stdout and "cli viewer" in listed.stdout and token not in listed.stdout
    subprocess.run([str(PIGE), "api", "token", "revoke", token_id], env=env, check=True, capture_output=True)
    with server.client(token) as client:
        assert client.get("/stations").status_code == 401
    bad = subprocess.run(
        [str(PIGE), "api", "token", "create", "--name", "x", "--role", "viewer"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "--stations" in bad.stderr
    stored = (server.root / "state" / "api" / "tokens.sqlite").read_bytes()
    log = server.log.read_text()
    assert "token=" + token_id in log  # requests are logged with the token's public id...
    for secret in (token, tokens.admin, tokens.viewer_demo, tokens.operator_demo):
        assert secret not in log and secret.encode() not in stored  # ...never with the token


def test_a_rights_holders_token_reads_its_own_statement_lines_and_nothing_more(
    server: ApiServer, tokens: Tokens
) -> None:
    month = _db(server, "SELECT strftime(min(start), '%Y-%m') FROM plays")[0][0]
    with server.client(tokens.admin) as admin:
        every = admin.get(f"/statements/{month}/rights-holders").json()["lines"]
    holders = sorted({line["rights_holder"] for line in every})
    assert len(holders) >= 2, "the demo catalogue has several publishers"
    own, other = holders[0], holders[1]
    token, _ = TokenStore.for_data_root(server.root).create("publisher", "viewer", (DEMO, OTHER), (own,))
    with server.client(token) as holder:
        lines = holder.get(f"/statements/{month}/rights-holders").json()["lines"]
        assert lines and [line for line in every if line["rights_holder"] == own] == lines
        assert (
            holder.get(f"/statements/{month}/rights-holders", params={"rights_holder": other}).status_code
            == 403
        )
        for path in ("/plays", f"/statements/{month}/stations", "/dead-air"):
            assert holder.get(path).status_code == 403, path
        assert holder.get("/stations").status_code == 200


def test_a_token_file_from_before_rights_holders_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite"
    token = "pige_0123456789ab_" + "B" * 43
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE tokens (token_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, "
        "name TEXT NOT NULL, role TEXT NOT NULL, stations TEXT NOT NULL, created_at TEXT NOT NULL, "
        "revoked_at TEXT)"
    )
    db.execute(
        "INSERT INTO tokens VALUES ('0123456789ab', ?, 'old', 'viewer', '[\"demo-fm\"]', ?, NULL)",
        (hashlib.sha256(token.encode()).hexdigest(), "2026-12-01T00:00:00+00:00"),
    )
    db.commit()
    db.close()
    store = TokenStore(path)
    old = store.verify(token)
    assert old is not None and old.stations == ("demo-fm",) and old.rights_holders == ()
    assert store.create("new", "viewer", ("demo-fm",), ("Label X",))[1].rights_holders == ("Label X",)
