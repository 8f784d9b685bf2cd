"""Retention on a real chunk store: age per station, legal holds, dead-air alerts, dry run, the log."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

from pige_pipeline.cli import app
from pige_pipeline.defs.maintenance.jobs import retention_job
from pige_pipeline.hours import hour_start
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.maintenance.alerts import acknowledge_alert
from pige_pipeline.maintenance.holds import LegalHold, LegalHoldError, add_hold, load_holds, remove_hold
from pige_pipeline.maintenance.retention import apply_retention, plan_retention, read_deletion_log
from pige_pipeline.stations import load_stations
from pige_pipeline.store.parquet import write_asset_hour

NOW = hour_start(datetime.now(UTC))
DEAD_AIR_SCHEMA = pa.schema(
    [
        ("station", pa.string()),
        ("hour", pa.timestamp("us", tz="UTC")),
        ("alert_id", pa.string()),
        ("start", pa.timestamp("us", tz="UTC")),
        ("end", pa.timestamp("us", tz="UTC")),
        ("notification_status", pa.string()),
    ]
)


@pytest.fixture
def store(
    data_root: Path, write_stations: Callable[..., Path], put_chunk: Callable[..., Path]
) -> dict[str, list[Path]]:
    """radio-a keeps 10 days, radio-b 30; each has one chunk 40, 20 and 2 days old plus derived data."""
    write_stations(
        entries=[
            {"id": sid, "name": sid, "stream_url": f"http://127.0.0.1:8000/{sid}", "retention_days": days}
            for sid, days in (("radio-a", 10), ("radio-b", 30))
        ]
    )
    made: dict[str, list[Path]] = {}
    for station in ("radio-a", "radio-b"):
        made[station] = [put_chunk(station, NOW - timedelta(days=age), seconds=4) for age in (40, 20, 2)]
        for path in made[station]:
            start = datetime.strptime(path.stem, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            write_asset_hour(data_root, "audio_chunks_stub", station, start, [], pa.schema(
                [("station", pa.string()), ("hour", pa.timestamp("us", tz="UTC"))]))  # fmt: skip
    return made


def _registry(data_root: Path):  # noqa: ANN202
    return load_stations(data_root / "stations.yaml")


def test_deletes_only_audio_older_than_each_stations_retention(data_root: Path, store: dict) -> None:
    parquet_before = sorted((data_root / "parquet").rglob("*.parquet"))
    plan = plan_retention(data_root, _registry(data_root))
    expected = {store["radio-a"][0], store["radio-a"][1], store["radio-b"][0]}
    assert {c.path for c in plan.delete} == expected
    assert plan.bytes_to_free == sum(p.stat().st_size for p in expected)
    result = apply_retention(data_root, plan, run_id="test-run")
    assert {c.path for c in result.deleted} == expected
    assert not any(p.exists() for p in expected)
    assert store["radio-a"][2].exists() and store["radio-b"][1].exists() and store["radio-b"][2].exists()
    # Derived data is never touched.
    assert sorted((data_root / "parquet").rglob("*.parquet")) == parquet_before
    log = read_deletion_log(data_root, datetime.now(UTC))
    assert {entry["path"] for entry in log} == {p.relative_to(data_root).as_posix() for p in expected}
    assert all(entry["run_id"] == "test-run" and entry["bytes"] > 0 for entry in log)
    assert {e["retention_days"] for e in log if e["station"] == "radio-a"} == {10}
    # Emptied day folders go, the station folder stays.
    assert not store["radio-a"][0].parent.exists()
    assert (data_root / "chunks" / "radio-a").is_dir()


def test_dry_run_lists_files_and_bytes_and_deletes_nothing(data_root: Path, store: dict) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["retention", "run", "--dry-run", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    expected = [store["radio-a"][0], store["radio-a"][1], store["radio-b"][0]]
    for path in expected:
        assert f"would delete: {path}" in result.output
        assert path.exists()
    total = sum(p.stat().st_size for p in expected)
    assert f"({total} bytes) would be freed" in result.output
    assert read_deletion_log(data_root, datetime.now(UTC)) == []


def test_legal_hold_keeps_audio_until_removed(data_root: Path, store: dict) -> None:
    old = store["radio-a"][0]
    start = datetime.strptime(old.stem, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    add_hold(data_root, LegalHold(id="court-1", station="radio-a", start=start + timedelta(minutes=30),
                                  end=start + timedelta(hours=2), reason="court order 41"))  # fmt: skip
    add_hold(data_root, LegalHold(id="all-stations", station="*", start=NOW - timedelta(days=20, hours=1),
                                  end=NOW - timedelta(days=19), reason="regulator inquiry"))  # fmt: skip
    plan = plan_retention(data_root, _registry(data_root))
    kept = {k.chunk.path: k.reason for k in plan.kept}
    assert "court-1" in kept[old] and "court order 41" in kept[old]
    assert "all-stations" in kept[store["radio-a"][1]]
    assert {c.path for c in plan.delete} == {store["radio-b"][0]}
    apply_retention(data_root, plan)
    assert old.exists() and store["radio-a"][1].exists()
    remove_hold(data_root, "court-1")
    assert [h.id for h in load_holds(data_root)] == ["all-stations"]
    plan = plan_retention(data_root, _registry(data_root))
    assert {c.path for c in plan.delete} == {old}


def test_open_dead_air_alert_keeps_audio_within_an_hour(data_root: Path, store: dict) -> None:
    old = store["radio-b"][0]
    start = datetime.strptime(old.stem, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    # The alert is in the hour after the chunk's: its ±1 h context reaches back into the chunk.
    alert_start = start + timedelta(hours=1, minutes=40)
    rows = [{"alert_id": "da-1", "start": alert_start, "end": alert_start + timedelta(seconds=30),
             "notification_status": "sent"}]  # fmt: skip
    write_asset_hour(data_root, "dead_air_alerts", "radio-b", alert_start, rows, DEAD_AIR_SCHEMA)
    plan = plan_retention(data_root, _registry(data_root))
    kept = {k.chunk.path: k.reason for k in plan.kept}
    assert "da-1" in kept[old]
    # The same alert on another station protects nothing there.
    assert store["radio-a"][0] in {c.path for c in plan.delete}
    acknowledge_alert(data_root, "da-1", by="test", note="fault fixed")
    plan = plan_retention(data_root, _registry(data_root))
    assert old in {c.path for c in plan.delete}


def test_alert_closed_in_parquet_does_not_protect(data_root: Path, store: dict) -> None:
    old = store["radio-b"][0]
    start = datetime.strptime(old.stem, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    rows = [{"alert_id": "da-2", "start": start + timedelta(minutes=5), "end": start + timedelta(minutes=6),
             "notification_status": "acknowledged"}]  # fmt: skip
    write_asset_hour(data_root, "dead_air_alerts", "radio-b", start, rows, DEAD_AIR_SCHEMA)
    plan = plan_retention(data_root, _registry(data_root))
    assert old in {c.path for c in plan.delete}


def test_unreadable_alerts_keep_the_stations_audio(data_root: Path, store: dict) -> None:
    old = store["radio-b"][0]
    start = datetime.strptime(old.stem, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    broken = data_root / "parquet" / "dead_air_alerts" / "radio-b" / f"{start:%Y/%m/%d/%H}.parquet"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"not parquet at all")
    plan = plan_retention(data_root, _registry(data_root))
    assert old in {k.chunk.path for k in plan.kept}
    assert any("radio-b" in p and "dead_air_alerts" in p for p in plan.problems)
    assert store["radio-a"][0] in {c.path for c in plan.delete}


def test_unreadable_holds_file_pauses_retention_and_names_the_hold(data_root: Path, store: dict) -> None:
    holds = data_root / "state" / "legal_holds.yaml"
    holds.parent.mkdir(parents=True, exist_ok=True)
    holds.write_text(yaml.safe_dump({"holds": [{"id": "bad", "station": "radio-a", "start": "2026-03-02",
                                                "end": "2026-03-01", "reason": "x"}]}))  # fmt: skip
    with pytest.raises(LegalHoldError, match=r"legal_holds\.yaml: hold #1 \('bad'\).*must be after start"):
        plan_retention(data_root, _registry(data_root))
    result = CliRunner().invoke(app, ["retention", "run", "--data-root", str(data_root)])
    assert result.exit_code == 2
    assert "Nothing was deleted" in result.output
    assert all(p.exists() for paths in store.values() for p in paths)


def test_station_missing_from_registry_is_kept_with_a_warning(
    data_root: Path, store: dict, put_chunk: Callable[..., Path]
) -> None:
    orphan = put_chunk("old-radio", NOW - timedelta(days=400), seconds=3)
    result = CliRunner().invoke(app, ["retention", "run", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    assert orphan.exists()
    assert "'old-radio'" in result.output and "not in stations.yaml" in result.output
    assert not store["radio-a"][0].exists()


def test_hold_commands(data_root: Path, store: dict) -> None:
    runner = CliRunner()
    root = ["--data-root", str(data_root)]
    span = ["--from", "2026-03-01T00:00:00", "--to", "2026-03-02T00:00:00"]
    added = runner.invoke(
        app, ["hold", "add", "--station", "radio-a", *span, "--reason", "complaint 7", "--id", "c7", *root]
    )
    assert added.exit_code == 0, added.output
    unknown = runner.invoke(app, ["hold", "add", "--station", "nope", *span, "--reason", "x", *root])
    assert unknown.exit_code == 2 and "no station 'nope'" in unknown.output
    listed = runner.invoke(app, ["hold", "ls", *root])
    assert "c7" in listed.output and "complaint 7" in listed.output and "1 holds" in listed.output
    missing = runner.invoke(app, ["hold", "rm", "c8", *root])
    assert missing.exit_code == 2 and "no hold 'c8'" in missing.output and "c7" in missing.output
    assert runner.invoke(app, ["hold", "rm", "c7", *root]).exit_code == 0
    assert load_holds(data_root) == []


def test_retention_job_reports_what_it_deleted(data_root: Path, store: dict) -> None:
    resources = pige_resources(PigeResource(data_root=str(data_root)))
    dry = retention_job.execute_in_process(
        resources=resources, run_config={"ops": {"apply_audio_retention": {"config": {"dry_run": True}}}}
    )
    meta = _output_metadata(dry)
    assert meta["files_expired"] == 3 and meta["files_deleted"] == 0
    assert store["radio-a"][0].exists()
    real = retention_job.execute_in_process(resources=resources)
    meta = _output_metadata(real)
    assert meta["files_deleted"] == 3 and meta["bytes_freed"] == meta["bytes_expired"] > 0
    log = read_deletion_log(data_root, datetime.now(UTC))
    assert {e["run_id"] for e in log} == {real.run_id}


def _output_metadata(result) -> dict:  # noqa: ANN001
    for event in result.all_events:
        if event.event_type_value == "STEP_OUTPUT":
            return {k: v.value for k, v in event.event_specific_data.metadata.items()}
    raise AssertionError("no output event")


def test_deletion_log_is_json_lines(data_root: Path, store: dict) -> None:
    apply_retention(data_root, plan_retention(data_root, _registry(data_root)))
    month = datetime.now(UTC)
    path = data_root / "state" / "retention" / f"deletions-{month:%Y-%m}.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert {"deleted_at", "station", "path", "chunk_start", "bytes", "cutoff"} <= set(json.loads(lines[0]))
