"""A worker that does not see the run's data root fails at once, says so, and writes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dagster as dg

from pige_pipeline.data_root import ensure_data_root_id, read_data_root_id
from pige_pipeline.defs.chunks.assets import audio_chunks
from pige_pipeline.lib.hourly import DATA_ROOT_TAG
from pige_pipeline.lib.resources import PigeResource, pige_resources

from .support import KEY, PIGE, pige_env


def test_pige_worker_refuses_an_empty_data_root(tmp_path: Path) -> None:
    empty = tmp_path / "not-mounted"
    empty.mkdir()
    env = pige_env(empty, tmp_path / "home", "celery", "redis://127.0.0.1:9/0")
    done = subprocess.run(
        [PIGE, "worker", "--queues", "audio"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert f"no stations file at {empty / 'stations.yaml'}" in done.stderr + done.stdout
    assert "mount it there" in done.stderr + done.stdout
    assert list(empty.iterdir()) == []  # nothing written into the wrong directory


def test_a_step_on_another_data_root_fails_and_writes_nothing(
    data_root: Path, write_stations, put_chunk, tmp_path: Path
) -> None:
    from .support import HOUR

    write_stations("alpha")
    put_chunk("alpha", HOUR, 60)
    ensure_data_root_id(data_root)
    result = dg.materialize(
        [audio_chunks],
        partition_key=KEY,
        resources=pige_resources(PigeResource(data_root=str(data_root))),
        instance=dg.DagsterInstance.ephemeral(),
        tags={DATA_ROOT_TAG: "0123456789abcdef-the-run-saw-another-volume"},
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message + (
        failure.step_failure_data.user_failure_data.description or ""
    )
    assert "sees a different data root" in message and "0123456789abcdef" in message
    assert read_data_root_id(data_root) in message
    assert not (data_root / "parquet").exists()  # not one file written
    # Failed at once: a wrong mount is not retried as if it were a time-out.
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
