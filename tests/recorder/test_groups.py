"""Recorder groups: one recorder run per group, and a station moved between groups without a hole."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pige_pipeline.defs.recorder.jobs import recorder, run_groups
from pige_pipeline.defs.recorder.sensors import recorder_supervisor
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.recorder.groups import parse_groups
from pige_pipeline.recorder.state import RecorderState, read_state, stop_request_path, write_state
from pige_pipeline.recorder.supervisor import (
    GROUP_TAG,
    LAUNCHED_AT_TAG,
    ROLE,
    ROLE_TAG,
    RecorderRun,
    decide_groups,
)
from pige_pipeline.stations import StationsFileError, parse_stations
from pige_pipeline.testing.icecast import IcecastServer

from .helpers import gaps, spans, write_yaml

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PIGE = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "pige")


def _state(run_id: str, *, beat: datetime = NOW, stations: tuple[str, ...] = ("x",)) -> RecorderState:
    return RecorderState(
        recorder_id=run_id,
        run_id=run_id,
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=beat - timedelta(minutes=5),
        heartbeat_at=beat,
        stations={sid: {"status": "recording"} for sid in stations},
    )


# -- the supervisor's decisions, per group ----------------------------------------------------------------


def test_two_groups_get_two_launches_with_distinct_run_keys() -> None:
    decisions = decide_groups([], {}, NOW, station_groups={"a", "b"})
    assert sorted(decisions) == ["a", "b"]
    assert all(d.launch for d in decisions.values())
    assert decisions["a"].run_key == "recorder-a-first" and decisions["b"].run_key == "recorder-b-first"


def test_a_dead_run_relaunches_only_its_group() -> None:
    runs = [
        RecorderRun("ra", "STARTED", NOW - timedelta(hours=1), "a"),
        RecorderRun("rb", "STARTED", NOW - timedelta(hours=1), "b"),
    ]
    states = {"ra": _state("ra"), "rb": _state("rb", beat=NOW - timedelta(minutes=3))}
    decisions = decide_groups(runs, states, NOW, station_groups={"a", "b"})
    assert not decisions["a"].launch and decisions["a"].mark_failed == []
    assert decisions["b"].mark_failed == ["rb"]
    assert decisions["b"].launch and decisions["b"].run_key == "recorder-b-after-rb"


def test_allowed_groups_limit_what_is_launched() -> None:
    decisions = decide_groups([], {}, NOW, station_groups={"a", "b", "c"}, allowed=frozenset({"a", "c", "z"}))
    # `z` has no station: nothing to record, no idle run.
    assert sorted(decisions) == ["a", "c"]
    # Another host's group (`b`, live here) is neither launched nor retired by this host.
    live_b = RecorderRun("rb", "STARTED", NOW - timedelta(hours=1), "b")
    decisions = decide_groups(
        [live_b], {"rb": _state("rb", stations=())}, NOW, station_groups={"a"}, allowed=None
    )
    assert decisions["b"].stop == ["rb"]  # no limit: b has no station left, so it is retired
    decisions = decide_groups(
        [live_b], {"rb": _state("rb", stations=())}, NOW, station_groups={"a"}, allowed=frozenset({"a"})
    )
    assert "b" not in decisions


def test_an_emptied_group_is_stopped_once_it_holds_no_station() -> None:
    run = RecorderRun("ra", "STARTED", NOW - timedelta(hours=1), "a")
    handing_over = decide_groups([run], {"ra": _state("ra", stations=("x",))}, NOW, station_groups={"b"})
    assert handing_over["a"].stop == [] and not handing_over["a"].launch
    done = decide_groups([run], {"ra": _state("ra", stations=())}, NOW, station_groups={"b"})
    assert done["a"].stop == ["ra"] and not done["a"].launch
    # An unreadable stations.yaml retires nothing and keeps the live groups.
    unknown = decide_groups([run], {"ra": _state("ra", stations=())}, NOW, station_groups=None)
    assert list(unknown) == ["a"] and unknown["a"].stop == []


def test_rotation_keeps_an_old_run_that_still_hands_a_moved_station_over() -> None:
    old = RecorderRun("old", "STARTED", NOW - timedelta(hours=25), "a")
    new = RecorderRun("new", "STARTED", NOW - timedelta(minutes=1), "a")
    handing_over = _state("old", stations=("x", "moved"))
    handing_over.stations["moved"]["moving_to"] = "b"
    waiting = decide_groups(
        [old, new], {"old": handing_over, "new": _state("new")}, NOW, station_groups={"a"}
    )
    assert waiting["a"].stop == [] and not waiting["a"].launch
    done = decide_groups([old, new], {"old": _state("old"), "new": _state("new")}, NOW, station_groups={"a"})
    assert done["a"].stop == ["old"]


def test_group_lists_and_the_run_s_groups() -> None:
    assert parse_groups(" a, b ,") == frozenset({"a", "b"})
    assert parse_groups("") is None and parse_groups(None) is None
    with pytest.raises(ValueError, match="'B/x'"):
        parse_groups("a,B/x")
    assert run_groups(["x"], "a") == frozenset({"x"})  # op config wins over the tag
    assert run_groups(None, "a") == frozenset({"a"})
    assert run_groups(None, None) is None  # a run launched by hand records every station
    assert recorder.executor_def is dg.in_process_executor


# -- the sensor against a real (ephemeral) Dagster instance ------------------------------------------------


def _stations(path: Path, groups: dict[str, str]) -> Path:
    return write_yaml(
        path,
        [
            {"id": sid, "name": sid, "stream_url": f"http://127.0.0.1:9/{sid}.mp3", "recorder_group": group}
            for sid, group in groups.items()
        ],
    )


def _tick(instance: dg.DagsterInstance, data_root: Path) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, resources=pige_resources(PigeResource(data_root=str(data_root)))
    )
    return recorder_supervisor(context)


def test_sensor_keeps_one_run_per_group_of_this_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _stations(tmp_path / "stations.yaml", {"s1": "a", "s2": "b", "s3": "c"})
    monkeypatch.setenv("PIGE_RECORDER_GROUPS", "a,b")
    now = datetime.now(UTC)
    with dg.DagsterInstance.ephemeral() as instance:
        first = _tick(instance, tmp_path)
        assert {r.tags[GROUP_TAG]: r.run_key for r in first.run_requests} == {
            "a": "recorder-a-first",
            "b": "recorder-b-first",
        }
        assert all(r.tags[ROLE_TAG] == ROLE for r in first.run_requests)

        for run_id, group in (("run-a", "a"), ("run-b", "b")):
            instance.add_run(
                dg.DagsterRun(
                    job_name="recorder",
                    run_id=run_id,
                    status=dg.DagsterRunStatus.STARTED,
                    tags={ROLE_TAG: ROLE, GROUP_TAG: group, LAUNCHED_AT_TAG: now.isoformat()},
                )
            )
            write_state(tmp_path, _state(run_id, beat=now))
        assert not _tick(instance, tmp_path).run_requests

        instance.report_run_failed(instance.get_run_by_id("run-b"))
        again = _tick(instance, tmp_path)
        assert [(r.tags[GROUP_TAG], r.run_key) for r in again.run_requests] == [
            ("b", "recorder-b-after-run-b")
        ]

        # Group a loses its last station: its run is asked to stop once it has handed it over.
        _stations(tmp_path / "stations.yaml", {"s1": "b", "s2": "b", "s3": "c"})
        _tick(instance, tmp_path)
        assert not stop_request_path(tmp_path, "run-a").exists()
        write_state(tmp_path, _state("run-a", beat=datetime.now(UTC), stations=()))
        _tick(instance, tmp_path)
        assert stop_request_path(tmp_path, "run-a").exists()

        monkeypatch.setenv("PIGE_RECORDER_GROUPS", "a,../b")
        with pytest.raises(Exception, match="PIGE_RECORDER_GROUPS"):
            _tick(instance, tmp_path)


# -- stations.yaml -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["Night Shift", "../a", "", 7])
def test_a_bad_recorder_group_names_file_station_and_field(bad: object) -> None:
    text = json.dumps(
        {"stations": [{"id": "fm", "name": "FM", "stream_url": "http://h/x", "recorder_group": bad}]}
    )
    with pytest.raises(StationsFileError) as exc:
        parse_stations(text, "stations.yaml")
    message = str(exc.value)
    assert "stations.yaml: station #1 ('fm'), field 'recorder_group'" in message


def test_recorder_group_defaults_to_default() -> None:
    registry = parse_stations(
        json.dumps({"stations": [{"id": "fm", "name": "FM", "stream_url": "http://h/x"}]})
    )
    assert registry.get("fm").recorder_group == "default"


# -- two recorders, a real Icecast, a station moved from group a to group b ---------------------------------


def _record(data_root: Path, stations: Path, recorder_id: str, groups: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PIGE, "record", "--data-root", str(data_root), "--stations", str(stations), "--segment-seconds", "5",
         "--backoff-max", "1", "--recorder-id", recorder_id, "--groups", groups],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _recording(data_root: Path, recorder_id: str, station: str) -> dict | None:
    state = read_state(data_root, recorder_id)
    return state.stations.get(station) if state is not None and state.recording(station) else None


@pytest.mark.slow
def test_moving_a_station_between_groups_leaves_no_hole(
    tmp_path: Path, ice: IcecastServer, stream_mp3: Path
) -> None:
    data_root = tmp_path / "data"
    for mount in ("/mover.mp3", "/stay-a.mp3", "/stay-b.mp3"):
        ice.add_source(mount, stream_mp3)
    entries = [
        {"id": sid, "name": sid, "stream_url": ice.url(f"/{sid}.mp3"), "recorder_group": group}
        for sid, group in (("mover", "a"), ("stay-a", "a"), ("stay-b", "b"))
    ]
    stations = write_yaml(tmp_path / "stations.yaml", entries)
    started = datetime.now(UTC)
    rec_a = _record(data_root, stations, "rec-a", "a")
    rec_b = _record(data_root, stations, "rec-b", "b")
    try:
        deadline = time.monotonic() + 40
        while len(spans(data_root, "mover")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _recording(data_root, "rec-a", "mover") and not _recording(data_root, "rec-b", "mover")

        entries[0]["recorder_group"] = "b"
        write_yaml(stations, entries)
        moved_at = datetime.now(UTC)
        b_records_at = a_drops_at = None
        deadline = time.monotonic() + 30
        while a_drops_at is None and time.monotonic() < deadline:
            if b_records_at is None and _recording(data_root, "rec-b", "mover"):
                b_records_at = datetime.now(UTC)
            state_a = read_state(data_root, "rec-a")
            if state_a is not None and "mover" not in state_a.stations:
                a_drops_at = datetime.now(UTC)
            time.sleep(0.1)
        assert b_records_at is not None and a_drops_at is not None, "no handover within 30 s"
        # Group a's recorder let go of the station only once group b's recorded it.
        assert b_records_at <= a_drops_at
        time.sleep(6)  # group b's recorder publishes at least one whole segment of its own
    finally:
        for proc in (rec_a, rec_b):
            proc.send_signal(signal.SIGINT)
        out_a, _ = rec_a.communicate(timeout=30)
        out_b, _ = rec_b.communicate(timeout=30)
    stopped = datetime.now(UTC)
    assert rec_a.returncode == 0 and rec_b.returncode == 0, out_a + out_b
    assert "station 'mover': moved to recorder group 'b'" in out_a, out_a
    assert "station 'mover': recorder rec-b (group 'b') records it now; stopped here" in out_a, out_a
    assert "'stay-b'" not in out_a and "'stay-a'" not in out_b

    # The store holds the station without a hole over 1 s from its first chunk to the end, across the move.
    mover = sorted(spans(data_root, "mover"))
    covered_to = mover[0][1]
    for start, end, path in mover[1:]:
        assert (start - covered_to).total_seconds() <= 1.0, f"hole before {path.name}: {mover}"
        covered_to = max(covered_to, end)
    assert mover[0][0] < moved_at and covered_to > a_drops_at + timedelta(seconds=4)
    assert covered_to > stopped - timedelta(seconds=6)  # and b recorded it until the end
    # Neither a disabled station nor a recorder outage: the move is not a gap.
    assert gaps(data_root, "mover", started) == []
    assert spans(data_root, "stay-a") and spans(data_root, "stay-b")
