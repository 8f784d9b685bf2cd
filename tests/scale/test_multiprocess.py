"""The one-machine default: the multiprocess executor runs two stations' steps at the same time."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from .support import build_hour, latest_run, pige_env, process

pytestmark = pytest.mark.slow


def _step_spans(instance: dg.DagsterInstance, run_id: str, prefix: str) -> dict[str, tuple[float, float]]:
    """(start, end) of each step whose key starts with `prefix`, from the run's own event log."""
    starts: dict[str, float] = {}
    spans: dict[str, tuple[float, float]] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or not (event.step_key or "").startswith(prefix):
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            spans[event.step_key] = (starts[event.step_key], record.timestamp)
    return spans


def test_two_stations_run_at_the_same_time(tmp_path: Path) -> None:
    root = build_hour(
        tmp_path / "data", stations=2, speech_prompts=1
    )  # 30 s of speech each: enough to overlap
    # PIGE_PROGRESS=1 draws the bar into the pipe as on a terminal, so its count can be checked too.
    env = pige_env(root, tmp_path / "home", "multiprocess", PIGE_MAX_CONCURRENT_STEPS="2", PIGE_PROGRESS="1")
    done = process(env)
    assert done.returncode == 0, done.stdout[-5000:]
    instance, run_id = latest_run(tmp_path / "home")
    spans = _step_spans(instance, run_id, "speech.speech_stations[")
    assert len(spans) == 2, spans
    (a_start, a_end), (b_start, b_end) = spans.values()
    # Each station's Whisper step started before the other one ended: they ran side by side.
    assert a_start < b_end and b_start < a_end, spans
    # ...in two processes (forked by the executor), not one after another in the run's own.
    pids = {
        record.dagster_event.pid
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
        if (record.dagster_event.step_key or "").startswith("speech.speech_stations[")
    }
    assert len(pids) == 2
    # The progress bar expected as many steps as the run executed, and counted every one of them.
    ended = sum(
        len(instance.all_logs(run_id, of_type=kind))
        for kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)
    )
    assert ended > 20
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stdout)
    assert f"{ended}/{ended} steps" in shown, shown[-3000:]
