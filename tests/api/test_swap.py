"""An analytics rebuild swapped in while a client pages: no error, and the next page reads the new build."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import httpx
import pytest
import yaml

from pige_pipeline.analytics import rebuild
from pige_pipeline.analytics.build import db_path
from pige_pipeline.testing.synthetic_year import settings_for
from tests.api.support import OTHER, ApiServer, Tokens, start_server


@pytest.fixture(scope="module")
def own_server(
    api_root: Path, tokens: Tokens, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A server on a private copy of the data root (this test rebuilds it)."""
    root = tmp_path_factory.mktemp("api-swap") / "data"
    shutil.copytree(api_root, root, ignore=shutil.ignore_patterns("analytics"))
    rebuild(settings_for(root), full=True)  # the views name absolute paths: point them at the copy
    running = start_server(root, root.parent / "api.log")
    yield running
    running.stop()


def test_paging_across_a_rebuild_and_swap(own_server: ApiServer, tokens: Tokens) -> None:
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def keep_reading() -> None:
        nonlocal answered
        with own_server.client(tokens.admin) as client:
            while not stop.is_set():
                for path in ("/plays?limit=50", "/dead-air", "/stations"):
                    response = client.get(path)
                    answered += 1
                    if response.status_code != 200:
                        failures.append(f"{path}: {response.status_code} {response.text[:200]}")

    with own_server.client(tokens.viewer_other) as viewer:
        first = viewer.get("/plays", params={"limit": 2}).json()
        assert first["next_cursor"] and all(p["station"] == OTHER for p in first["items"])
        assert {datetime.fromisoformat(p["start"]).utcoffset().total_seconds() for p in first["items"]} <= {
            -5 * 3600.0,
            -4 * 3600.0,
        }
        # The new build: the station moved to Tokyo time (stations.yaml is read by every rebuild).
        stations_file = own_server.root / "stations.yaml"
        registry = yaml.safe_load(stations_file.read_text(encoding="utf-8"))
        next(s for s in registry["stations"] if s["id"] == OTHER)["timezone"] = "Asia/Tokyo"
        stations_file.write_text(yaml.safe_dump(registry, sort_keys=False), encoding="utf-8")
        readers = [threading.Thread(target=keep_reading) for _ in range(2)]
        for reader in readers:
            reader.start()
        try:
            before = answered
            result = rebuild(settings_for(own_server.root))  # never waits for the server's readers
            during = answered - before
        finally:
            stop.set()
            for reader in readers:
                reader.join(timeout=60)
        second = viewer.get("/plays", params={"limit": 2, "cursor": first["next_cursor"]})
    assert not failures, failures[:5]
    assert during > 0, "no request was answered while the rebuild ran"
    assert result.mode == "incremental"
    assert second.status_code == 200
    items = second.json()["items"]
    assert items and all(
        datetime.fromisoformat(p["start"]).utcoffset().total_seconds() == 9 * 3600 for p in items
    )
    assert not {p["play_id"] for p in items} & {p["play_id"] for p in first["items"]}
    assert httpx.get(f"{own_server.url}/health").json()["analytics_mode"] == "incremental"


def test_evidence_whose_audio_is_gone_is_410_with_the_reason(own_server: ApiServer, tokens: Tokens) -> None:
    """Retention deleted the chunk: the API says so (410) instead of a broken clip."""
    con = duckdb.connect(str(db_path(own_server.root)), read_only=True)
    try:
        (play_id,) = con.execute(f"SELECT play_id FROM plays WHERE station = '{OTHER}' LIMIT 1").fetchone()
    finally:
        con.close()
    for chunk in (own_server.root / "chunks" / OTHER).rglob("*.mp3"):
        chunk.unlink()
    with own_server.client(tokens.admin) as admin:
        response = admin.get(f"/evidence/{play_id}")
    assert response.status_code == 410, response.text
    assert "chunk" in response.json()["detail"] or "audio" in response.json()["detail"]
