"""GET /metrics: admin tokens or loopback only, and a real Prometheus (Debian's) scraping it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pige_pipeline.maintenance.storage import StorageSample, record_sample, sample_disk
from pige_pipeline.recorder.state import RecorderState, write_state
from pige_pipeline.settings import REPO_ROOT
from pige_pipeline.store.gaps import Gap, append_gap
from tests.api.support import DEMO, OTHER, ApiServer, Tokens, free_port

pytestmark = pytest.mark.slow
GIB = 1 << 30


@pytest.fixture(scope="module")
def station_state(server: ApiServer) -> datetime:
    """A live recorder heartbeat recording demo-fm only, and two minutes of gap today on demo-am."""
    now = datetime.now(UTC)
    write_state(
        server.root,
        RecorderState(
            recorder_id="api-test",
            pid=os.getpid(),  # alive for as long as the test runs
            host=socket.gethostname(),
            started_at=now - timedelta(minutes=5),
            heartbeat_at=now + timedelta(minutes=10),  # stays fresh through the scrapes below
            stations={
                DEMO: {"status": "recording", "last_segment_end": (now - timedelta(seconds=30)).isoformat()}
            },
        ),
    )
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    append_gap(
        server.root, Gap(OTHER, day + timedelta(seconds=10), day + timedelta(seconds=130), "stream_lost")
    )
    # Storage history: an hour ago the disk held 1 GiB less, so it fills at about 24 GiB a day.
    disk = sample_disk(server.root)
    hour_ago = StorageSample(
        now - timedelta(hours=1), disk.total_bytes, disk.used_bytes - GIB, disk.free_bytes + GIB
    )
    record_sample(server.root, hour_ago)
    return now


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_cover_stations_pipeline_outbox_disk_and_latency(
    server: ApiServer, tokens: Tokens, station_state: datetime
) -> None:
    with server.client(tokens.admin) as admin:
        admin.get("/plays")  # so that the latency histogram has a route
    text = httpx.get(f"{server.url}/metrics").text  # loopback, no proxy: no token needed
    samples = _samples(text)
    assert samples[("pige_station_recording", (("station", DEMO),))] == 1.0
    assert samples[("pige_station_recording", (("station", OTHER),))] == 0.0
    assert 25 <= samples[("pige_station_seconds_since_last_segment", (("station", DEMO),))] < 600
    assert samples[("pige_station_gap_seconds_today", (("station", OTHER),))] == pytest.approx(120.0)
    assert samples[("pige_station_gap_seconds_today", (("station", DEMO),))] == 0.0
    # The demo hour went through every asset for demo-fm; demo-am's copy of it was never run, so each
    # asset has that one station-hour waiting. The demo's alerts wait in the outbox (no SMTP there).
    pending = {labels: v for (name, labels), v in samples.items() if name == "pige_station_hours_pending"}
    assert (("asset", "airplay_events"),) in pending and set(pending.values()) == {1.0}
    assert samples[("pige_dead_air_alerts", (("status", "pending"),))] > 0
    assert samples[("pige_notification_outbox", (("kind", "dead_air"), ("status", "pending")))] > 0
    free = samples[("pige_disk_free_bytes", ())]
    assert free > 0 and samples[("pige_disk_used_bytes", ())] > 0
    assert samples[("pige_disk_seconds_until_full", ())] == pytest.approx(free / (24 * GIB) * 86400, rel=0.2)
    route = (("method", "GET"), ("route", "/plays"), ("status", "200"))
    assert samples[("pige_api_request_seconds_count", route)] >= 1
    errors = {labels: v for (name, labels), v in samples.items() if name == "pige_metrics_collect_errors"}
    assert len(errors) == 4 and set(errors.values()) == {0.0}


def test_metrics_behind_a_proxy_need_an_admin_token(server: ApiServer, tokens: Tokens) -> None:
    proxied = {"X-Forwarded-For": "203.0.113.7"}
    assert httpx.get(f"{server.url}/metrics", headers=proxied).status_code == 401
    viewer = {**proxied, "Authorization": f"Bearer {tokens.viewer_demo}"}
    assert httpx.get(f"{server.url}/metrics", headers=viewer).status_code == 403
    admin = {**proxied, "Authorization": f"Bearer {tokens.admin}"}
    assert "pige_station_recording" in httpx.get(f"{server.url}/metrics", headers=admin).text


@pytest.fixture(scope="module")
def prometheus(server: ApiServer, station_state: datetime) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: install Debian's prometheus package (.ci/setup does)")
    base = Path(tempfile.mkdtemp(prefix="pige-prometheus-"))
    target = server.url.removeprefix("http://")
    (base / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: pige\n    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={base / 'prometheus.yml'}", f"--storage.tsdb.path={base / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(base / "prometheus.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def test_prometheus_scrapes_the_per_station_recording_metric(prometheus: str) -> None:
    deadline = time.monotonic() + 60
    found: dict[str, str] = {}
    while time.monotonic() < deadline and len(found) < 2:
        try:
            answer = httpx.get(
                f"{prometheus}/api/v1/query", params={"query": "pige_station_recording"}, timeout=5
            )
            found = {r["metric"]["station"]: r["value"][1] for r in answer.json()["data"]["result"]}
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    assert found == {DEMO: "1", OTHER: "0"}
    targets = httpx.get(f"{prometheus}/api/v1/targets").json()["data"]["activeTargets"]
    assert [t["health"] for t in targets] == ["up"]


def test_the_sample_grafana_dashboard_queries_metrics_the_api_exposes(
    server: ApiServer, prometheus: str, station_state: datetime
) -> None:
    dashboard = json.loads((REPO_ROOT / "docs" / "deploy" / "grafana" / "pige-dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exposed = {name for name, _labels in _samples(httpx.get(f"{server.url}/metrics").text)}
    for expr in expressions:
        names = set(re.findall(r"\bpige_[a-z_]+", expr))
        assert names and names <= exposed, (expr, names - exposed)
        # Prometheus itself parses and evaluates each panel's query.
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", (expr, answer)
