"""Security review checks: no secret in outputs, logs or run metadata; stream URL and path validation."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster._serdes import serialize_value
from typer.testing import CliRunner

from pige_pipeline.cli import app
from pige_pipeline.defs.chunks.assets import audio_chunks
from pige_pipeline.defs.maintenance.assets import storage_health
from pige_pipeline.defs.maintenance.jobs import retention_job
from pige_pipeline.hours import hour_start
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.maintenance.holds import LegalHold
from pige_pipeline.maintenance.retention import ChunkCandidate, RetentionPlan, apply_retention
from pige_pipeline.stations import StationsFileError, check_stream_url, parse_stations, redact_url
from pige_pipeline.store.chunks import chunk_path
from tests.ops.support import REPO, STREAM_PASSWORD, PgCluster, Stack

SECRET = "s3cr3t-Pa55word"
# A key that names a secret, with its value: `password: xyz`, `api_token = xyz`.
SECRET_KEY = re.compile(r"^\s*([\w-]*(?:password|passwd|secret|token)[\w-]*)\s*[:=]\s*(.*)$", re.IGNORECASE)


def _stations_yaml(root: Path, url: str, station: str = "radio-a") -> Path:
    path = root / "stations.yaml"
    entry = {"id": station, "name": "Radio A", "stream_url": url, "retention_days": 1}
    path.write_text(yaml.safe_dump({"stations": [entry]}))
    return path


def test_stations_check_masks_the_stream_password(data_root: Path) -> None:
    _stations_yaml(data_root, f"https://monitor:{SECRET}@stream.example.org:8443/live.mp3")
    result = CliRunner().invoke(app, ["stations", "check", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "https://monitor:***@stream.example.org:8443/live.mp3" in result.output


def test_no_secret_in_run_events_logs_or_metadata(
    data_root: Path, put_chunk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    _stations_yaml(data_root, f"http://monitor:{SECRET}@127.0.0.1:9/live.mp3")
    hour = hour_start(datetime.now(UTC)) - timedelta(days=3)
    put_chunk("radio-a", hour, seconds=20)
    # An unreadable part makes the failure path (error messages, tracebacks) run too.
    broken = chunk_path(data_root, "radio-a", hour + timedelta(minutes=30), "mp3")
    broken.write_bytes(b"\x00" * 2048)
    monkeypatch.setenv("PIGE_STORAGE_MIN_DAYS", "1000000000")  # the alert path runs as well
    resources = pige_resources(PigeResource(data_root=str(data_root)))
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        assert dg.materialize([audio_chunks], partition_key=hour.strftime("%Y-%m-%d-%H:%M"),
                              instance=instance, resources=resources).success  # fmt: skip
        assert dg.materialize([storage_health], instance=instance, resources=resources).success
        assert retention_job.execute_in_process(instance=instance, resources=resources).success
        runs = instance.get_runs()
        assert len(runs) == 3
        dumped = "".join(
            serialize_value(record.event_log_entry)
            for run in runs
            for record in instance.get_records_for_run(run.run_id, limit=10_000).records
        )
        assert "radio-a" in dumped and "unreadable" in dumped  # the events were really read
        assert SECRET not in dumped
        assert all(SECRET not in serialize_value(run) for run in runs)
    for path in home.rglob("*"):  # compute logs (stdout/stderr of the runs) and the instance database
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    for path in (data_root / "parquet").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_no_secret_in_postgres_or_service_logs(
    stack: Stack, materialized_run: str, pg_cluster: PgCluster
) -> None:
    conn = psycopg2.connect(host=pg_cluster.host, port=pg_cluster.port, user=pg_cluster.user,
                            password=pg_cluster.password, dbname="dagster_stack")  # fmt: skip
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (materialized_run,))
        assert cur.fetchone()[0] > 5
        for table, column in (("event_logs", "event"), ("runs", "run_body")):
            cur.execute(f"SELECT count(*) FROM {table} WHERE {column} LIKE %s", (f"%{STREAM_PASSWORD}%",))
            assert cur.fetchone()[0] == 0, table
            cur.execute(f"SELECT count(*) FROM {table} WHERE {column} LIKE %s", (f"%{pg_cluster.password}%",))
            assert cur.fetchone()[0] == 0, table
    conn.close()
    for service in stack.services.values():
        text = service.log()
        assert STREAM_PASSWORD not in text and pg_cluster.password not in text, service.name


@pytest.mark.parametrize(
    "url, why",
    [
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("concat:/etc/passwd|/etc/shadow", "contains whitespace or '|'"),
        ("subfile,,start,0,end,100,,:/etc/passwd", "must start with http"),
        ("rtmp://stream.example.org/live", "must start with http"),
        ("http://stream.example.org/live.mp3 -f null", "contains whitespace"),
        ("http:///live.mp3", "has no host name"),
        (f"ftp://user:{SECRET}@example.org/x", "must start with http"),
    ],
)
def test_stream_urls_other_than_http_are_refused(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_stream_url(url)
    text = yaml.safe_dump({"stations": [{"id": "radio-a", "name": "A", "stream_url": url}]})
    with pytest.raises(StationsFileError) as error:
        parse_stations(text, "stations.yaml")
    message = str(error.value)
    assert "station #1 ('radio-a'), field 'stream_url'" in message
    assert SECRET not in message


def test_redact_url() -> None:
    assert redact_url(f"http://u:{SECRET}@h:8000/m?x=1") == "http://u:***@h:8000/m?x=1"
    assert redact_url("http://h/m") == "http://h/m"


@pytest.mark.parametrize("station_id", ["../etc", "a/b", "Radio", ".hidden", "", "x" * 65, "a b"])
def test_station_ids_that_are_not_path_safe_are_refused(station_id: str) -> None:
    text = yaml.safe_dump({"stations": [{"id": station_id, "name": "A", "stream_url": "http://h/m"}]})
    with pytest.raises(StationsFileError, match="field 'id'"):
        parse_stations(text)


@pytest.mark.parametrize("station", ["../../etc", "a/b", "A"])
def test_legal_holds_refuse_path_like_stations(station: str) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="is not a station id"):
        LegalHold(id="h1", station=station, start=now, end=now + timedelta(hours=1), reason="x")


def test_retention_never_deletes_outside_the_chunk_store(data_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious.mp3"
    outside.write_bytes(b"not the store's")
    derived = data_root / "parquet" / "silences" / "radio-a" / "2026" / "01" / "01" / "00.parquet"
    derived.parent.mkdir(parents=True)
    derived.write_bytes(b"derived")
    sneaky = data_root / "chunks" / "radio-a" / ".." / ".." / "parquet" / "x.mp3"
    now = datetime.now(UTC)
    plan = RetentionPlan(now=now, cutoffs={"radio-a": now}, retention_days={"radio-a": 1})
    plan.delete = [ChunkCandidate("radio-a", p, now - timedelta(days=9), now - timedelta(days=8), 1)
                   for p in (outside, derived, sneaky)]  # fmt: skip
    result = apply_retention(data_root, plan)
    assert result.deleted == [] and len(result.failed) == 3
    assert outside.exists() and derived.exists()


def test_no_literal_secret_in_tracked_configuration() -> None:
    files = subprocess.run(["git", "ls-files", "*.yaml", "*.yml", "*.env", "*.service", "*.conf"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    for name in files:
        for number, line in enumerate((REPO / name).read_text(errors="replace").splitlines(), 1):
            match = SECRET_KEY.match(line.split("#", 1)[0])
            if match:
                value = match.group(2).strip()
                assert value in ("", "''", '""') or value.startswith(("{", "$")), f"{name}:{number}: {line}"
