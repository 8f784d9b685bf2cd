"""A new Dagster instance over a processed data root requests nothing; a late chunk requests its hour only.

The hour is processed for real (in-process), so the manifests the sensor compares against are the ones
the pipeline writes.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from pige_pipeline.definitions import defs
from pige_pipeline.defs.chunks.sensors import new_chunks_sensor
from pige_pipeline.hours import partition_key_for
from pige_pipeline.lib.hourly import DATA_ROOT_TAG
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.store.chunks import chunk_path

from .support import HOUR, KEY, build_hour

pytestmark = pytest.mark.slow


def _tick(root: Path, instance: dg.DagsterInstance) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance,
        resources=pige_resources(PigeResource(data_root=str(root))),
        repository_def=defs.get_repository_def(),
    )
    return new_chunks_sensor(context)


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build_hour(tmp_path_factory.mktemp("processed") / "data", stations=2, speech_prompts=1)
    result = defs.resolve_job_def("process_hour").execute_in_process(
        partition_key=KEY,
        instance=dg.DagsterInstance.ephemeral(),
        resources=pige_resources(PigeResource(data_root=str(root))),
    )
    assert result.success
    return root


def test_a_new_instance_over_a_processed_root_requests_nothing(processed: Path) -> None:
    # A fresh instance and no cursor: what a move to PostgreSQL or a reset sensor looks like.
    result = _tick(processed, dg.DagsterInstance.ephemeral())
    assert result.run_requests == []


def test_a_late_chunk_requests_its_hour_only(processed: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(processed, root)
    first = chunk_path(root, "st-0", HOUR.replace(minute=5), "mp3")
    late = chunk_path(root, "st-1", HOUR.replace(minute=50), "mp3")
    shutil.copy(first, late)  # a chunk the recorder published late, for the same hour
    result = _tick(root, dg.DagsterInstance.ephemeral())
    assert [r.partition_key for r in result.run_requests] == [KEY]
    assert result.run_requests[0].tags[DATA_ROOT_TAG]
    # The same chunks again (the cursor lost, a second instance): the same run key, so never twice.
    again = _tick(root, dg.DagsterInstance.ephemeral())
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in result.run_requests]


def test_a_new_archive_becomes_one_backfill_of_what_is_missing(processed: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(processed, root)
    source = chunk_path(root, "st-0", HOUR.replace(minute=5), "mp3")
    new_hours = [HOUR + timedelta(hours=h) for h in range(1, 9)]
    for hour in new_hours:
        for station in ("st-0", "st-1"):
            dest = chunk_path(root, station, hour, "mp3")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, dest)
    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(
        instance=instance,
        resources=pige_resources(PigeResource(data_root=str(root))),
        repository_def=defs.get_repository_def(),
    )
    result = new_chunks_sensor(context)
    [request] = result.run_requests
    subset = request.asset_graph_subset
    assert subset is not None  # a backfill, not eight runs
    keys = {p.partition_key for p in subset.iterate_asset_partitions()}
    # The processed hour is not in it: only what is missing.
    assert keys == {partition_key_for(h) for h in new_hours}
    assets = {p.asset_key.to_user_string() for p in subset.iterate_asset_partitions()}
    assert {"audio_chunks", "airplay_events", "transcripts", "dead_air_alerts"} <= assets
