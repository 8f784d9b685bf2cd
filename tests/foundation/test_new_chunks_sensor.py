"""The new-chunk sensor requests every completed hour that received chunks, late ones included."""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from pige_pipeline.defs.chunks.sensors import new_chunks_sensor
from pige_pipeline.hours import hour_start, partition_key_for
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.store.chunks import chunk_path


def _tick(data_root: Path, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources=pige_resources(PigeResource(data_root=str(data_root))),
    )
    return new_chunks_sensor(context)


def _touch_chunk(data_root: Path, station: str, start: datetime) -> Path:
    path = chunk_path(data_root, station, start, "mp3")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(b"\xff\xfb")
    tmp.rename(path)  # as the recorder and the importer do: the rename sets ctime
    return path


def test_late_chunk_for_old_hour_and_newest_hour_are_both_requested(data_root: Path) -> None:
    newest = hour_start(datetime.now(UTC)) - timedelta(hours=1)
    old = newest - timedelta(days=3)
    _touch_chunk(data_root, "alpha", newest)
    _touch_chunk(data_root, "beta", old)  # a late chunk for an hour three days ago
    _touch_chunk(data_root, "alpha", hour_start(datetime.now(UTC)))  # the open hour: not yet

    first = _tick(data_root)
    keys = sorted(r.partition_key for r in first.run_requests)
    assert keys == sorted([partition_key_for(old), partition_key_for(newest)])
    assert len({r.run_key for r in first.run_requests}) == 2

    # Nothing new: nothing requested.
    assert _tick(data_root, first.cursor).run_requests == []

    # Another late chunk for the old hour (a second station back-filled): the hour runs again,
    # under a new run key so Dagster does not skip it as already requested.
    time.sleep(0.01)
    _touch_chunk(data_root, "gamma", old + timedelta(minutes=30))
    third = _tick(data_root, first.cursor)
    assert [r.partition_key for r in third.run_requests] == [partition_key_for(old)]
    old_key = next(r.run_key for r in first.run_requests if r.partition_key == partition_key_for(old))
    assert third.run_requests[0].run_key != old_key
    assert json.loads(third.cursor)["ctime_ns"] > json.loads(first.cursor)["ctime_ns"]
