"""One hour of five stations through real `pige worker` processes on a real Redis, against an in-process run.

- Two workers take the audio queue, one only the speech queue: every station's steps run on a worker
  (named in the step metadata), Whisper steps only on the speech worker, and nothing else there.
- The Parquet outputs hold the same rows as the in-process run of the same hour.
- A corrupt chunk on one station fails that station only: its step records it, the check names it.
- A worker SIGKILLed in the middle of a station step: the step runs again on the other worker, the hour
  completes, and no row is written twice.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pige_pipeline.lib.hourly import plan_batches
from pige_pipeline.speech.timeline import expected_speech_seconds
from pige_pipeline.store.parquet import read_asset_hour, read_manifest

from .support import (
    HOUR,
    build_hour,
    celery_executions,
    copy_root,
    differences,
    finished_steps,
    latest_run,
    pige_env,
    process,
    redis_server,
    snapshot,
    step_outputs,
    workers,
)

pytestmark = pytest.mark.slow

BROKEN = "st-broken"
# Short enough for a test; longer than any station step here, so no live step is ever handed out twice.
VISIBILITY = {"PIGE_CELERY_VISIBILITY_TIMEOUT": "60", "PIGE_CELERY_RESTORE_INTERVAL": "1"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Unequal speech (1, 3, 2 and 1 prompts), so that longest-first differs from the stations file's order.
    return build_hour(
        tmp_path_factory.mktemp("template") / "data", stations=4, speech_prompts=[1, 3, 2, 1], broken=BROKEN
    )


@pytest.fixture(scope="module")
def reference(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same hour, processed by the in-process executor."""
    base = tmp_path_factory.mktemp("in_process")
    root = copy_root(template, base / "data")
    done = process(pige_env(root, base / "home", "in_process"))
    assert done.returncode == 0, done.stdout[-5000:]
    return snapshot(root)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def queued_run(template: Path, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Audio on two workers, speech on a third that takes nothing else."""
    base = tmp_path_factory.mktemp("celery_queues")
    root = copy_root(template, base / "data")
    env = pige_env(root, base / "home", "celery", redis_url, **VISIBILITY)
    specs = [("audio1", "audio"), ("audio2", "audio"), ("speech1", "speech")]
    with workers(env, specs, base):
        done = process(env)
    assert "(run " in done.stdout, done.stdout[-5000:]
    instance, run_id = latest_run(base / "home")
    return {
        "root": root,
        "done": done,
        "steps": step_outputs(instance, run_id),
        "executions": celery_executions(instance, run_id),
    }


def test_every_station_step_ran_on_a_worker_and_the_rows_match_in_process(
    queued_run: dict, reference
) -> None:
    done = queued_run["done"]
    assert done.returncode == 0, done.stdout[-5000:]
    assert "2026-11-20-10:00: succeeded" in done.stdout
    for station in ("st-0", "st-1", "st-2", "st-3"):
        assert f"  {station}" in done.stdout
    steps = queued_run["steps"]
    stations_seen = set()
    for key, meta in steps.items():
        assert meta["worker"] in {"audio1", "audio2", "speech1"}, (key, meta)
        assert meta["pid"] > 0 and meta["host"]
        stations_seen.update(meta["stations"])
    assert stations_seen == {"st-0", "st-1", "st-2", "st-3", BROKEN}
    # Both audio workers took station steps: the hour really was spread over machines' worth of workers.
    assert {m["worker"] for k, m in steps.items() if not k.startswith("speech.")} == {"audio1", "audio2"}
    assert differences(reference, snapshot(queued_run["root"])) == []


def test_the_speech_worker_gets_whisper_steps_and_nothing_else(queued_run: dict) -> None:
    ran = queued_run["executions"]
    on_speech = {step for step, worker in ran if worker == "speech1"}
    whisper_steps = {step for step, _ in ran if step.startswith("speech.speech_stations[")}
    assert len(whisper_steps) == 5
    assert on_speech == whisper_steps
    assert not {step for step, worker in ran if worker != "speech1"} & whisper_steps


def test_whisper_steps_are_submitted_longest_first(queued_run: dict) -> None:
    # The one speech worker takes one step at a time (prefetch 1), in the order they were submitted.
    ran = [step for step, worker in queued_run["executions"] if worker == "speech1"]
    stations = [queued_run["steps"][step]["stations"][0] for step in ran]
    expected = {
        sid: expected_speech_seconds(queued_run["root"], sid, HOUR)
        for sid in ("st-0", "st-1", "st-2", "st-3", BROKEN)
    }
    assert stations == sorted(expected, key=lambda sid: -expected[sid]), (stations, expected)
    assert stations[0] == "st-1" and stations[-1] == BROKEN, (stations, expected)
    # Each step's mapping key carries its place in the submission order.
    assert [step.split("[b")[1][:4] for step in ran] == ["0000", "0001", "0002", "0003", "0004"], ran


def test_plan_batches_balance_the_expected_cost() -> None:
    assert plan_batches(["a", "b", "c"], 2) == [("a", "b"), ("c",)]
    costs = {"a": 10.0, "b": 190.0, "c": 57.0, "d": 114.0, "e": 0.0, "f": 190.0, "g": 57.0, "h": 114.0}
    one = plan_batches(list(costs), 1, costs)
    assert [costs[b[0]] for b in one] == [190, 190, 114, 114, 57, 57, 10, 0]
    two = plan_batches(list(costs), 2, costs)
    loads = [sum(costs[s] for s in batch) for batch in two]
    assert len(two) == 4 and max(loads) - min(loads) <= 57 and loads == sorted(loads, reverse=True), two
    assert plan_batches([], 3, {}) == [()]


def test_a_corrupt_chunk_fails_only_its_own_station_step(queued_run: dict) -> None:
    steps = queued_run["steps"]
    broken_steps = {k: m for k, m in steps.items() if BROKEN in m["stations"]}
    others = {k: m for k, m in steps.items() if BROKEN not in m["stations"]}
    assert broken_steps["audio_chunks.audio_chunks_stations[b0004_st_broken]"]["failed_stations"] == [BROKEN]
    # Every other step of the hour went through for the good stations. (Their audio_chunks check fails
    # too, rightly: three minutes recorded of sixty is "short".)
    assert all(m["failed_stations"] == [] for k, m in others.items() if not k.startswith("audio_chunks.")), (
        others
    )
    manifest = read_manifest(queued_run["root"], "audio_chunks", HOUR)
    assert "unreadable" in manifest["failed"][BROKEN]
    assert all(manifest["failed"][s].startswith("short") for s in ("st-0", "st-1", "st-2", "st-3"))
    assert manifest["steps"][BROKEN]["worker"] in {"audio1", "audio2"}
    assert BROKEN in read_manifest(queued_run["root"], "airplay_events", HOUR)["no_audio"]
    # The good stations were fully processed: plays and a transcript each.
    for station in ("st-0", "st-1", "st-2", "st-3"):
        assert len(read_asset_hour(queued_run["root"], "airplay_events", station, HOUR)) >= 1
        assert len(read_asset_hour(queued_run["root"], "transcripts", station, HOUR)) >= 1


def is_good_whisper(step_key: str) -> bool:
    return step_key.startswith("speech.speech_stations[") and "st_broken" not in step_key


def test_a_worker_killed_mid_step_is_replaced_and_the_hour_completes(
    template: Path, redis_url: str, reference, tmp_path: Path
) -> None:
    root = copy_root(template, tmp_path / "data")
    home = tmp_path / "home"
    env = pige_env(root, home, "celery", redis_url.replace("/0", "/1"), **VISIBILITY)
    with workers(env, [("w1", "audio,speech"), ("w2", "audio,speech")], tmp_path) as started:
        import subprocess

        from .support import KEY, PIGE

        proc = subprocess.Popen(
            [PIGE, "process", "--from", KEY], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        victim = None
        deadline = time.monotonic() + 600
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            try:
                instance, run_id = latest_run(home)
            except ValueError:
                continue
            # The first Whisper step of a good station that w1 has started and not yet finished, killed at
            # once while it loads the model or transcribes. (The plan step and the broken station's step
            # end in milliseconds; a fast machine may finish a short step before a fixed delay runs out.)
            done = finished_steps(instance, run_id)
            whisper = [s for s, w in celery_executions(instance, run_id) if w == "w1" and is_good_whisper(s)]
            victim = next((s for s in whisper if s not in done), None)
        assert victim is not None, "w1 never started a speech step"
        started["w1"].kill()
        try:
            out, _ = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        output = out.decode(errors="replace")
    assert proc.returncode == 0, output[-5000:]
    executions = celery_executions(instance, run_id)
    assert [w for s, w in executions if s == victim] == ["w1", "w2"], executions
    station = step_outputs(instance, run_id)[victim]["stations"][0]
    assert read_manifest(root, "transcripts", HOUR)["steps"][station]["worker"] == "w2"
    # Same rows as in-process: the killed attempt left nothing twice and nothing half-written.
    assert differences(reference, snapshot(root)) == []
