"""The instance configuration: run queue, pools, run monitoring (recorder exempt) and retries."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.monitoring.run_monitoring import check_run_timeout

from pige_pipeline.defs.maintenance.sensors import recorder_runtime_exemption
from tests.ops.support import REPO

PG_VARS = ("PIGE_PG_HOST", "PIGE_PG_PORT", "PIGE_PG_USER", "PIGE_PG_PASSWORD", "PIGE_PG_DB")


def _yaml(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


@pytest.fixture
def instance(tmp_path: Path):  # noqa: ANN201
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def test_sqlite_default_and_postgres_production_differ_only_in_storage() -> None:
    default, production = _yaml("dagster.yaml"), _yaml("dagster.postgres.yaml")
    assert "storage" not in default and "run_queue" not in default
    assert {k: v for k, v in production.items() if k != "storage"} == default
    db = production["storage"]["postgres"]["postgres_db"]
    assert {field: value for field, value in db.items()} == {
        "hostname": {"env": "PIGE_PG_HOST"},
        "port": {"env": "PIGE_PG_PORT"},
        "username": {"env": "PIGE_PG_USER"},
        "password": {"env": "PIGE_PG_PASSWORD"},
        "db_name": {"env": "PIGE_PG_DB"},
    }


def test_queue_pools_monitoring_and_retries(instance: dg.DagsterInstance) -> None:
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert type(instance.run_storage).__name__ == "SqliteRunStorage"
    assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds > 0
    assert instance.run_retries_enabled and instance.run_retries_max_retries >= 1
    assert not instance.run_retries_retry_on_asset_or_op_failure
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    # Each recorder group's rotation needs two recorder runs at once for a moment, and never more.
    assert {"key": "pige/role", "value": "recorder", "limit": 6} in limits
    assert {"key": "pige/recorder_group", "value": {"applyLimitPerUniqueValue": True}, "limit": 2} in limits
    storage = instance.event_log_storage
    for pool in ("llm", "duckdb_writer"):
        storage.initialize_concurrency_limit_to_default(pool)
        info = storage.get_concurrency_info(pool)
        assert info.slot_count == 1, pool
    # One slot: a second LLM step waits while the first talks to Ollama.
    first = storage.claim_concurrency_slot("llm", "run-1", "summaries")
    second = storage.claim_concurrency_slot("llm", "run-2", "summaries")
    assert first.is_claimed and not second.is_claimed


def _started_hours_ago(instance: dg.DagsterInstance, job: str, tags: dict[str, str], hours: float) -> str:
    run = create_run_for_test(instance, job_name=job, tags=tags)
    start = DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name=job)
    instance.handle_run_event(run.run_id, start, update_timestamp=datetime.now(UTC) - timedelta(hours=hours))
    return run.run_id


def test_run_monitoring_stops_long_processing_runs_but_not_the_recorder(instance: dg.DagsterInstance) -> None:
    limit_h = instance.run_monitoring_max_runtime_seconds / 3600
    stuck = _started_hours_ago(instance, "process_hour", {}, limit_h + 1)
    recent = _started_hours_ago(instance, "process_hour", {}, limit_h / 2)
    recorder = _started_hours_ago(instance, "recorder", {"pige/role": "recorder"}, 30)
    # The recorder job may not carry the exemption itself: the ops sensor adds it to live recorder runs.
    result = recorder_runtime_exemption(dg.build_sensor_context(instance=instance))
    assert recorder in str(result.skip_message)
    assert instance.get_run_by_id(recorder).tags["dagster/max_runtime"] == "0"
    log = logging.getLogger("test")
    for run_id in (stuck, recent, recorder):
        check_run_timeout(
            instance, instance.get_run_record_by_id(run_id), log, instance.run_monitoring_max_runtime_seconds
        )
    stopped = (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
    assert instance.get_run_by_id(stuck).status in stopped
    assert instance.get_run_by_id(recent).status == dg.DagsterRunStatus.STARTED
    assert instance.get_run_by_id(recorder).status == dg.DagsterRunStatus.STARTED


def test_postgres_yaml_names_no_secret() -> None:
    text = (REPO / "dagster.postgres.yaml").read_text()
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].strip()
        if stripped.startswith(("password:", "username:", "hostname:", "postgres_url:")):
            # The value is on the next line as `env: PIGE_PG_*`, never inline.
            assert stripped.endswith(":"), line
    assert "postgres_url" not in text
