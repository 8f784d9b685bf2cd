"""Dagster state in a real PostgreSQL cluster: a partitioned run and a sensor tick, read back."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from dagster._core.scheduler.instigation import TickStatus

from pige_pipeline.defs.chunks.assets import audio_chunks
from pige_pipeline.lib.resources import PigeResource, pige_resources
from tests.ops.support import REPO, DemoRoot, PgCluster, Stack


def _instance_from_postgres_yaml(home: Path) -> dg.DagsterInstance:
    shutil.copy(REPO / "dagster.postgres.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


def test_partitioned_run_is_stored_in_postgres(
    pg_cluster: PgCluster, demo_root: DemoRoot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_cluster.create_database("dagster_run")
    for key, value in pg_cluster.env("dagster_run").items():
        monkeypatch.setenv(key, value)
    with _instance_from_postgres_yaml(tmp_path) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        result = dg.materialize(
            [audio_chunks],
            partition_key=demo_root.partition_key,
            instance=instance,
            resources=pige_resources(PigeResource(data_root=str(demo_root.path))),
        )
        assert result.success
    # A fresh instance reads the run back from the database, not from memory.
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == demo_root.partition_key
        records = instance.fetch_materializations(dg.AssetKey("audio_chunks"), limit=5).records
        assert [r.partition_key for r in records] == [demo_root.partition_key]
        metadata = records[0].asset_materialization.metadata
        assert metadata["stations"].value == 2 and metadata["stations_failed"].value == 0
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("audio_chunks"), "all_stations_ok"), limit=5
        )
        mine = [c for c in checks if c.run_id == result.run_id]
        assert any(c.status.value == "SUCCEEDED" for c in mine), [(c.status, c.partition) for c in checks]
    conn = psycopg2.connect(
        host=pg_cluster.host, port=pg_cluster.port, user=pg_cluster.user, password=pg_cluster.password,
        dbname="dagster_run",
    )  # fmt: skip
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchone()[0] > 5
        cur.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchone()[0] == 1
    conn.close()


def test_postgres_yaml_needs_its_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PIGE_PG_HOST", "PIGE_PG_PORT", "PIGE_PG_USER", "PIGE_PG_PASSWORD", "PIGE_PG_DB"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(Exception, match="PIGE_PG_"):
        _instance_from_postgres_yaml(tmp_path)


@pytest.mark.slow
def test_daemon_sensor_tick_launches_partitioned_run_in_postgres(stack: Stack, materialized_run: str) -> None:
    with dg.DagsterInstance.from_config(str(stack.dagster_home)) as instance:
        states = [s for s in instance.all_instigator_state() if s.name == "new_chunks_sensor"]
        assert len(states) == 1
        ticks = instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id, limit=50)
        launched = [t for t in ticks if t.status == TickStatus.SUCCESS and t.run_ids]
        assert launched, [(t.status, t.run_ids) for t in ticks]
        assert materialized_run in {rid for t in launched for rid in t.run_ids}
        run = instance.get_run_by_id(materialized_run)
        assert run.tags["pige/trigger"] == "new_chunks"
        assert run.tags["dagster/partition"] == stack.demo.partition_key
        events = instance.get_records_for_run(materialized_run).records
        materialized = [
            e.event_log_entry.dagster_event.event_specific_data.materialization
            for e in events
            if e.event_log_entry.dagster_event
            and e.event_log_entry.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        ]
        assert any(
            m.asset_key == dg.AssetKey("audio_chunks") and m.partition == stack.demo.partition_key
            for m in materialized
        )
