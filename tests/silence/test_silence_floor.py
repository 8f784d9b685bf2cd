"""Dead air relative to the station's own floor: programme lost under a continuous hiss is found; steady
tonal music (pads, drones, held chords, with or without tremolo) is not dead air; mains hum is."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from pige_pipeline.silence import detect_silences
from pige_pipeline.silence.rows import silence_rows
from pige_pipeline.stations import SilenceSettings
from pige_pipeline.testing import silence_synth as synth
from pige_pipeline.testing.sources import english_prompts, french_prompts

H = datetime(2026, 3, 1, 10, tzinfo=UTC)


def seconds(audio: np.ndarray, start: float, length: float, rate: int) -> np.ndarray:
    return audio[round(start * rate) : round((start + length) * rate)]


def pcm(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize(
    ("colour", "programme_db", "below_db", "prompts"),
    [("pink", -18.0, 15.0, "fr"), ("white", -20.0, 25.0, "en"), ("pink", -16.0, 20.0, "en")],
)
def test_programme_lost_under_hiss_is_found_and_nothing_else(
    music, other_music, sample_rate, colour: str, programme_db: float, below_db: float, prompts: str
) -> None:
    rate = sample_rate
    m = synth.scale_to_db(music, programme_db)
    o = synth.scale_to_db(other_music, programme_db)
    talk = french_prompts()[10:16] if prompts == "fr" else english_prompts()[20:26]
    # Pauses between sentences: with the prompts' own lead-in and tail, each gap stays under 2 s.
    speech = synth.scale_to_db(synth.speech_with_pauses(talk, [0.5, 1.2, 0.8, 1.0, 0.6], rate), programme_db)
    parts = [
        seconds(m, 0, 15, rate),
        synth.digital_silence(6, rate),  # programme lost: 15-21
        speech,
        seconds(o, 0, 15, rate),
        synth.digital_silence(20, rate),  # programme lost
        seconds(m, 20, 15, rate),
    ]
    programme = np.concatenate(parts)
    lost_20_at = sum(len(p) for p in parts[:4]) / rate
    floor_db = programme_db - below_db
    audio = pcm(programme + synth.hiss(len(programme) / rate, floor_db, colour, rate, seed=7))
    found = detect_silences(audio, rate, threshold_db=-50, min_seconds=2)
    spans = [(round(s.start_s, 2), round(s.end_s, 2)) for s in found]
    assert len(found) == 2, spans
    for s, (start, end) in zip(found, [(15.0, 21.0), (lost_20_at, lost_20_at + 20)], strict=True):
        assert abs(s.start_s - start) <= 0.3 and abs(s.end_s - end) <= 0.3, spans
        # Above the -50 dBFS threshold: found because it is the station's floor with no programme over it.
        assert s.kind == "noise_floor" and abs(s.level_db - floor_db) <= 2.5
        assert s.floor_db is not None and abs(s.floor_db - floor_db) <= 3
        assert "no programme" in s.why and "station floor" in s.why and s.tonal_share < 0.2
    # The hourly rows carry the same explanation and measures.
    rows = silence_rows([(600.0, audio)], rate, H, SilenceSettings())
    assert [r["why"] for r in rows] == [s.why for s in found]
    assert all(
        r["floor_db"] == s.floor_db and r["level_sd_db"] is not None for r, s in zip(rows, found, strict=True)
    )


def test_steady_tonal_music_is_not_dead_air_but_mains_hum_is(music, other_music, sample_rate) -> None:
    rate = sample_rate
    parts = [seconds(music, 0, 8, rate)]
    pads = [
        synth.sustained_chord(8, -35, rate),
        synth.sustained_chord(8, -45, rate, notes_hz=(98.0, 146.83, 196.0)),  # a G organ drone
        synth.sustained_chord(8, -35, rate, tremolo_hz=0.7),
        synth.sustained_chord(8, -45, rate, notes_hz=(130.81, 164.81, 196.0), tremolo_hz=1.5),
    ]
    for i, pad in enumerate(pads):
        parts += [pad, seconds(other_music if i % 2 else music, 8 + 6 * i, 6, rate)]
    hum_at = sum(len(p) for p in parts) / rate
    parts += [synth.hum(7, -40, 50, sample_rate=rate), seconds(music, 40, 6, rate)]
    audio = pcm(np.concatenate(parts))
    found = detect_silences(audio, rate, threshold_db=-50, min_seconds=2)
    assert [(round(s.start_s, 1), s.kind) for s in found] == [(pytest.approx(hum_at, abs=0.3), "hum")]
    [hum] = found
    assert hum.mains_hz == 50.0 and "mains hum" in hum.why and "50 Hz harmonics" in hum.why
    assert abs(hum.end_s - hum_at - 7) <= 0.3
