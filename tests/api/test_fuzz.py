"""Property-based fuzzing of the whole OpenAPI document (schemathesis), and injection attempts by hand."""

from __future__ import annotations

import duckdb
import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from pige_pipeline.analytics.build import db_path
from tests.api.support import DEMO, ApiServer, Tokens

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]


def test_no_500_and_every_response_fits_its_schema(server: ApiServer, tokens: Tokens) -> None:
    """Every operation of /openapi.json, with valid and invalid inputs, as an operator of one station.

    (Driven through Hypothesis directly: schemathesis' pytest plugin does not run under pytest 9.)
    """
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {tokens.operator_demo}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    calls = 0
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def call(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                call()
            except Unsatisfiable:
                # An operation without parameters (/health, /stations, /metrics) has no invalid input.
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert calls >= 100


def _plays(server: ApiServer) -> int:
    con = duckdb.connect(str(db_path(server.root)), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM plays").fetchone()[0]
    finally:
        con.close()


SQL = [
    "' OR '1'='1",
    "x'; DROP TABLE plays; --",
    '") OR 1=1 --',
    "%",
    "_",
    "\\",
    "' UNION SELECT * FROM catalogue --",
]


def test_sql_in_every_filter_is_refused_or_matches_nothing(server: ApiServer, tokens: Tokens) -> None:
    plays = _plays(server)
    with server.client(tokens.operator_demo) as client:
        for attempt in SQL:
            for path, params in (
                ("/plays", {"track_id": attempt}),
                ("/plays", {"isrc": attempt[:32]}),
                ("/transcripts/search", {"q": attempt + attempt}),
                ("/statements/2026-12/rights-holders", {"rights_holder": attempt}),
            ):
                response = client.get(path, params=params)
                assert response.status_code == 200, (path, attempt, response.text)
                body = response.json()
                assert not body.get("items", body.get("lines")), (path, attempt)
            for path, params in (
                ("/plays", {"station": attempt}),
                ("/dead-air", {"severity": attempt}),
                ("/plays", {"since": attempt}),
                ("/plays", {"cursor": attempt}),
            ):
                assert client.get(path, params=params).status_code in (400, 422), (path, attempt)
            assert client.get(f"/statements/{attempt}/stations").status_code in (404, 422)
            assert client.get(f"/plays/{attempt}").status_code in (404, 422)
    assert _plays(server) == plays


def test_path_traversal_in_ids_is_refused(server: ApiServer, tokens: Tokens) -> None:
    with server.client(tokens.admin) as client:
        for attempt in (
            "..%2F..%2Fstations.yaml",
            "..%2Fanalytics%2Fanalytics.duckdb",
            "%2E%2E",
            "%00",
            "a%2Fb",
        ):
            for path in ("/plays/", "/evidence/", "/stations/"):
                response = client.get(path + attempt)
                assert response.status_code in (404, 422), (path, attempt, response.status_code)
                assert "stations:" not in response.text and b"DUCK" not in response.content
        raw = httpx.get(f"{server.url}/evidence/../../stations.yaml", headers=client.headers)
        assert raw.status_code == 404


def test_a_forged_cursor_cannot_widen_a_scope(server: ApiServer, tokens: Tokens) -> None:
    """A cursor only says where to resume: the scope comes from the token on every page."""
    with server.client(tokens.admin) as admin:
        first = admin.get("/plays", params={"limit": 1}).json()
    with server.client(tokens.viewer_demo) as viewer:
        rest = viewer.get("/plays", params={"limit": 1000, "cursor": first["next_cursor"]}).json()["items"]
    assert rest and {p["station"] for p in rest} == {DEMO}
