"""The live monitor fed directly with ~1 s blocks, as the recorder feeds it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from pige_pipeline.notify import Notification
from pige_pipeline.recorder.live import LiveAudioSink
from pige_pipeline.silence import live
from pige_pipeline.silence.live import LiveSilenceMonitor
from pige_pipeline.stations import Station
from pige_pipeline.testing import silence_synth as synth

RATE = 8000  # the recorder's live rate


def station() -> Station:
    return Station(id="fm1", name="Radio Un", stream_url="http://127.0.0.1:8000/fm1.mp3")


def resample(audio: np.ndarray, src: int, dst: int = RATE) -> np.ndarray:
    idx = np.arange(0, len(audio), src / dst)
    return np.interp(idx, np.arange(len(audio)), audio)


def feed(monitor: LiveSilenceMonitor, audio: np.ndarray, start: datetime, clock: list[datetime]) -> None:
    pcm = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
    for i in range(0, len(pcm), RATE):
        block_start = start + timedelta(seconds=i / RATE)
        clock[0] = block_start + timedelta(seconds=1)
        monitor.feed("fm1", block_start, pcm[i : i + RATE], RATE)


def run(audio_parts: list[np.ndarray]) -> tuple[LiveSilenceMonitor, list[Notification], list[datetime]]:
    sent: list[Notification] = []
    clock = [datetime(2026, 3, 1, 10, 7, tzinfo=UTC)]
    monitor = LiveSilenceMonitor([station()], sent.append, clock=lambda: clock[0])
    assert isinstance(monitor, LiveAudioSink)
    feed(monitor, np.concatenate(audio_parts), clock[0], clock)
    return monitor, sent, clock


def test_twenty_seconds_of_silence_alerts_then_clears(music, sample_rate) -> None:
    m = resample(music, sample_rate)
    monitor, sent, _ = run([m[: 15 * RATE], synth.digital_silence(20, RATE), m[15 * RATE : 30 * RATE]])
    assert [n.kind for n in sent] == ["dead_air_live", "dead_air_live_clear"]
    onset = datetime(2026, 3, 1, 10, 7, 15, tzinfo=UTC)
    (_, _, alert_at), (_, _, clear_at) = monitor.events
    assert 5 <= (alert_at - onset).total_seconds() <= 8  # alert_seconds is 5: well inside a minute
    assert 20 <= (clear_at - onset).total_seconds() <= 23
    assert "10:07:15" in sent[0].body and "Radio Un" in sent[0].subject
    assert "20 s" in sent[1].subject or "21 s" in sent[1].subject
    assert sent[1].key == sent[0].key + "/clear"


def test_hum_alerts_and_quiet_music_and_pauses_do_not(music, sample_rate) -> None:
    m = resample(music, sample_rate)
    _, sent, _ = run([m[: 10 * RATE], synth.hum(12, -35, 50, sample_rate=RATE), m[10 * RATE : 20 * RATE]])
    assert [n.kind for n in sent] == ["dead_air_live", "dead_air_live_clear"]
    assert "hum" in sent[0].subject
    quiet = synth.pianissimo(25, -50, RATE, seed=3)
    pauses = np.concatenate([m[: 5 * RATE], synth.digital_silence(1.5, RATE), m[5 * RATE : 10 * RATE]] * 3)
    _, sent, _ = run([m[: 10 * RATE], quiet, pauses, m[: 4 * RATE]])
    assert sent == []


def test_stream_down_is_not_dead_air(music, sample_rate) -> None:
    m = resample(music, sample_rate)
    sent: list[Notification] = []
    monitor = LiveSilenceMonitor([station()], sent.append)
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    pcm = m.astype(np.int16)
    for i in range(10):
        monitor.feed("fm1", start + timedelta(seconds=i), pcm[i * RATE : (i + 1) * RATE], RATE)
    monitor.stream_down("fm1", start + timedelta(seconds=10))
    # 40 s later the stream is back with programme: no alert for the time it was away.
    for i in range(10):
        monitor.feed("fm1", start + timedelta(seconds=50 + i), pcm[(10 + i) * RATE : (11 + i) * RATE], RATE)
    assert sent == []


def test_a_station_that_opted_out_is_not_watched_and_stations_yaml_edits_are_followed(
    tmp_path: Path, music, sample_rate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "STATIONS_CHECK_S", 0.0)
    stations_file = tmp_path / "stations.yaml"

    def write(live_alerts: bool, mtime: float) -> None:
        stations_file.write_text(
            "stations:\n  - {id: fm1, name: Radio Un, stream_url: 'http://127.0.0.1:8000/fm1.mp3', "
            f"silence: {{live_alerts: {str(live_alerts).lower()}}}}}\n",
            encoding="utf-8",
        )
        os.utime(stations_file, (mtime, mtime))

    m = resample(music, sample_rate)
    lost = np.concatenate([m[: 10 * RATE], synth.digital_silence(12, RATE), m[10 * RATE : 15 * RATE]])
    sent: list[Notification] = []
    write(False, 1_000_000.0)
    monitor = LiveSilenceMonitor([], sent.append, stations_file=stations_file)
    clock = [datetime(2026, 3, 1, 10, 7, tzinfo=UTC)]
    feed(monitor, lost, clock[0], clock)
    assert sent == [] and not monitor.watches("fm1")
    write(True, 1_000_100.0)  # the engineer turns live alerts back on: no restart needed
    feed(monitor, lost, clock[0] + timedelta(minutes=1), clock)
    assert [n.kind for n in sent] == ["dead_air_live", "dead_air_live_clear"]
