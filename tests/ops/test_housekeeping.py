"""Housekeeping: old failed runs through a real Dagster instance, stale files under the data root."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
from typer.testing import CliRunner

from pige_pipeline.cli import app
from pige_pipeline.defs.maintenance.housekeeping import delete_runs, old_failed_runs
from pige_pipeline.defs.maintenance.jobs import housekeeping_job
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.maintenance.housekeeping import find_stale_files, remove_stale_files


@dg.op
def breaks() -> None:
    raise RuntimeError("stream decoder crashed")


@dg.op
def works() -> int:
    return 1


@dg.job
def failing_job() -> None:
    breaks()


@dg.job
def passing_job() -> None:
    works()


def _age(path: Path, hours: float) -> Path:
    past = time.time() - hours * 3600
    os.utime(path, (past, past))
    return path


def _write(path: Path, data: bytes, hours_old: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return _age(path, hours_old)


def test_old_failed_runs_are_deleted_and_others_kept(tmp_path: Path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        failed = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        passed = passing_job.execute_in_process(instance=instance)
        assert not failed.success
        assert old_failed_runs(instance, timedelta(days=1)) == []
        found = old_failed_runs(instance, timedelta(0))
        assert found == [failed.run_id]
        delete_runs(instance, found)
        assert instance.get_run_by_id(failed.run_id) is None
        assert instance.get_run_by_id(passed.run_id) is not None
        assert instance.get_records_for_run(failed.run_id).records == []


def test_housekeeping_job_cleans_runs_and_files(tmp_path: Path, data_root: Path) -> None:
    stale = _write(data_root / "parquet" / "silences" / ".07.parquet.123.tmp", b"x" * 100, 48)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        failed = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        result = housekeeping_job.execute_in_process(
            instance=instance,
            resources=pige_resources(PigeResource(data_root=str(data_root))),
            run_config={"ops": {"clean_up": {"config": {"failed_run_days": 0}}}},
        )
        assert result.success
        assert instance.get_run_by_id(failed.run_id) is None
        assert instance.get_run_by_id(result.run_id) is not None
    assert not stale.exists()


def test_stale_files(data_root: Path) -> None:
    chunk_dir = data_root / "chunks" / "radio-a" / "2026" / "11" / "22"
    chunk_dir.mkdir(parents=True)
    old_tmp = chunk_dir / ".20261122T100000Z.mp3.tmp"
    old_tmp.write_bytes(b"partial mp3")
    _age(old_tmp, 30)
    fresh_tmp = chunk_dir / ".20261122T110000Z.mp3.tmp"
    fresh_tmp.write_bytes(b"still being written")
    audio = chunk_dir / "20261122T090000Z.mp3"
    audio.write_bytes(b"recorded audio")
    _age(audio, 100)
    state = data_root / "state" / "recorder"
    state.mkdir(parents=True)
    # A process that has exited, and this one, which is alive.
    dead = subprocess.Popen(["true"])
    dead.wait()
    dead_pid = _write(state / "radio-a.pid", f"{dead.pid}\n".encode(), 30)
    live_pid = state / "radio-b.pid"
    live_pid.write_text(f"{os.getpid()}\n")
    _age(live_pid, 30)
    found = find_stale_files(data_root, timedelta(hours=24))
    assert {f.path for f in found} == {old_tmp, dead_pid}
    assert any("is not running" in f.why for f in found if f.path == dead_pid)
    result = remove_stale_files(found)
    assert result.bytes_freed == len(b"partial mp3") + len(f"{dead.pid}\n")
    assert fresh_tmp.exists() and audio.exists() and live_pid.exists()
    assert not old_tmp.exists() and not dead_pid.exists()


def test_housekeeping_command_dry_run(data_root: Path, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    tmp_file = data_root / "state" / ".history.jsonl.1.tmp"
    tmp_file.parent.mkdir(parents=True)
    tmp_file.write_text("x")
    _age(tmp_file, 30)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = CliRunner().invoke(app, ["housekeeping", "--dry-run", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    assert f"would remove: {tmp_file}" in result.output
    assert "DAGSTER_HOME is not set" in result.output
    assert tmp_file.exists()
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        failing_job.execute_in_process(instance=instance, raise_on_error=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    result = CliRunner().invoke(
        app, ["housekeeping", "--failed-run-days", "0", "--data-root", str(data_root)]
    )
    assert result.exit_code == 0, result.output
    assert "1 failed runs older than 0 days deleted" in result.output
    assert not tmp_file.exists()


def test_station_step_hand_over_files_go_after_a_week(data_root: Path) -> None:
    steps = data_root / "state" / "dagster_step_outputs"
    old = _write(
        steps / "run-old" / "audio_chunks.audio_chunks_stations[b0000_a]" / "result", b"x" * 10, 24 * 8
    )
    recent = _write(
        steps / "run-new" / "audio_chunks.audio_chunks_stations[b0000_a]" / "result", b"y", 24 * 2
    )
    found = find_stale_files(data_root, timedelta(hours=24))
    assert {f.path for f in found} == {old}
    assert "older than 7 days" in found[0].why
    remove_stale_files(found)
    assert not old.exists() and recent.exists()
