"""The recorder supervisor: pure decisions, and the sensor against a real (ephemeral) Dagster instance."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pige_pipeline.defs.recorder.sensors import recorder_supervisor
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.recorder.state import RecorderState, stop_request_path, write_state
from pige_pipeline.recorder.supervisor import (
    GROUP_TAG,
    LAUNCHED_AT_TAG,
    ROLE,
    ROLE_TAG,
    RecorderRun,
    decide,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _state(run_id: str, *, beat: datetime = NOW, started: datetime | None = None, status: str = "recording"):
    return RecorderState(
        recorder_id=run_id,
        run_id=run_id,
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=started or beat - timedelta(minutes=5),
        heartbeat_at=beat,
        stations={"a": {"status": status}, "b": {"status": status}},
    )


def test_decide_launches_relaunches_and_never_doubles() -> None:
    first = decide([], {}, NOW)
    assert first.launch and first.run_key == "recorder-default-first"
    live = RecorderRun("r1", "STARTED", NOW - timedelta(hours=1))
    assert not decide([live], {"r1": _state("r1")}, NOW).launch
    queued = RecorderRun("r1", "QUEUED", NOW - timedelta(seconds=5))
    assert not decide([queued], {}, NOW).launch
    for status in ("FAILURE", "CANCELED", "SUCCESS"):
        ended = RecorderRun("r1", status, NOW - timedelta(hours=1))
        again = decide([ended], {}, NOW)
        assert again.launch and again.run_key == "recorder-default-after-r1" and status in again.reason


def test_decide_treats_a_silent_run_as_dead() -> None:
    run = RecorderRun("r1", "STARTED", NOW - timedelta(hours=1))
    stale = _state("r1", beat=NOW - timedelta(minutes=3))
    decision = decide([run], {"r1": stale}, NOW)
    assert decision.mark_failed == ["r1"] and decision.launch
    young = RecorderRun("r2", "STARTED", NOW - timedelta(seconds=20))  # still starting: no heartbeat yet
    assert not decide([young], {}, NOW).launch


def test_decide_rotates_then_stops_the_old_run_once_the_new_one_records() -> None:
    old = RecorderRun("old", "STARTED", NOW - timedelta(hours=24, minutes=1))
    rotate = decide([old], {"old": _state("old")}, NOW, rotate_after=timedelta(hours=24))
    assert rotate.launch and rotate.rotates == "old" and rotate.run_key == "recorder-default-rotate-old"
    new = RecorderRun("new", "STARTED", NOW - timedelta(seconds=30))
    starting = _state("new", started=NOW - timedelta(seconds=20), status="starting")
    waiting = decide([old, new], {"old": _state("old"), "new": starting}, NOW)
    assert not waiting.launch and waiting.stop == []
    ready = decide([old, new], {"old": _state("old"), "new": _state("new")}, NOW)
    assert not ready.launch and ready.stop == ["old"]


def _add_run(
    instance: dg.DagsterInstance,
    run_id: str,
    status: dg.DagsterRunStatus,
    launched: datetime,
    group: str = "default",
) -> None:
    instance.add_run(
        dg.DagsterRun(
            job_name="recorder",
            run_id=run_id,
            status=status,
            tags={ROLE_TAG: ROLE, GROUP_TAG: group, LAUNCHED_AT_TAG: launched.isoformat()},
        )
    )


def _tick(instance: dg.DagsterInstance, data_root: Path) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, resources=pige_resources(PigeResource(data_root=str(data_root)))
    )
    return recorder_supervisor(context)


@pytest.fixture
def instance() -> dg.DagsterInstance:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def test_sensor_launches_once_relaunches_after_failure_and_rotates(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    result = _tick(instance, tmp_path)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.tags[ROLE_TAG] == ROLE and request.run_key == "recorder-default-first"

    # The requested run exists and is recording: the next tick launches nothing.
    _add_run(instance, "run-1", dg.DagsterRunStatus.STARTED, now - timedelta(minutes=10))
    write_state(tmp_path, _state("run-1", beat=now))
    assert not _tick(instance, tmp_path).run_requests

    # It fails: relaunched, keyed by the run it replaces.
    instance.report_run_failed(instance.get_run_by_id("run-1"))
    again = _tick(instance, tmp_path)
    assert [r.run_key for r in again.run_requests] == ["recorder-default-after-run-1"]

    # A run older than the rotation period gets a successor; the old one is asked to stop
    # only once the new one records.
    _add_run(instance, "run-2", dg.DagsterRunStatus.STARTED, now - timedelta(hours=25))
    write_state(tmp_path, _state("run-2", beat=now))
    rotation = _tick(instance, tmp_path)
    assert [r.run_key for r in rotation.run_requests] == ["recorder-default-rotate-run-2"]
    assert rotation.run_requests[0].tags["pige/rotates"] == "run-2"
    _add_run(instance, "run-3", dg.DagsterRunStatus.STARTED, now - timedelta(seconds=40))
    write_state(tmp_path, _state("run-3", beat=now, status="starting", started=now - timedelta(seconds=30)))
    assert not _tick(instance, tmp_path).run_requests
    assert not stop_request_path(tmp_path, "run-2").exists()
    write_state(tmp_path, _state("run-3", beat=now))
    assert not _tick(instance, tmp_path).run_requests
    assert stop_request_path(tmp_path, "run-2").exists()


def test_recorder_job_records_until_asked_to_stop(tmp_path: Path, ice, stream_mp3: Path) -> None:
    """The Dagster job runs the same core; a stop request (what rotation sends) ends it cleanly."""
    import threading
    import time

    import yaml

    from pige_pipeline.defs.recorder.jobs import recorder
    from pige_pipeline.recorder.state import read_states, request_stop
    from pige_pipeline.store.chunks import list_chunks

    ice.add_source("/job.mp3", stream_mp3)
    data_root = tmp_path / "data"
    data_root.mkdir()
    stations = {"stations": [{"id": "job", "name": "Job", "stream_url": ice.url("/job.mp3")}]}
    (data_root / "stations.yaml").write_text(yaml.safe_dump(stations), encoding="utf-8")

    def stop_when_recording() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = read_states(data_root)
            if states and states[0].stations.get("job", {}).get("segments", 0) >= 2:
                request_stop(data_root, states[0].recorder_id, "test")
                return
            time.sleep(0.5)

    threading.Thread(target=stop_when_recording, daemon=True).start()
    with dg.DagsterInstance.ephemeral() as instance:
        result = recorder.execute_in_process(
            instance=instance,
            run_config={"ops": {"record_stations": {"config": {"segment_seconds": 5}}}},
            resources=pige_resources(PigeResource(data_root=str(data_root))),
        )
        assert result.success
        assert instance.get_run_by_id(result.run_id).tags[ROLE_TAG] == ROLE
    assert len(list_chunks(data_root, "job")) >= 2
    state = read_states(data_root)[0]
    assert state.run_id == result.run_id and state.stopped
