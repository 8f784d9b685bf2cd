"""Timeline arithmetic on real audio and other domains' files; packing; guards; mentions; settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pige_pipeline.audio.decode import SPEECH_SAMPLE_RATE, decode_mono
from pige_pipeline.speech.guards import drop_reason, repetition_loop
from pige_pipeline.speech.mentions import find_mentions, term_pattern
from pige_pipeline.speech.schemas import SPEECH_SEGMENTS_SCHEMA
from pige_pipeline.speech.settings import WhisperSettings
from pige_pipeline.speech.timeline import build_timeline, detect_voice, hour_timeline, subtract_spans
from pige_pipeline.speech.transcribe import WINDOW_S, pack, split_span
from pige_pipeline.store.parquet import write_asset_hour
from pige_pipeline.testing.sources import drascula_tracks

from .helpers import HOUR, SPEECH_PROMPT

SR = SPEECH_SAMPLE_RATE


def _spans_schema(extra: list[tuple[str, object]]) -> object:
    import pyarrow as pa

    return pa.schema([("station", pa.string()), ("hour", pa.timestamp("us", tz="UTC")),
                      ("start_s", pa.float64()), ("end_s", pa.float64()), *extra])  # fmt: skip


def test_build_timeline_precedence_and_full_cover() -> None:
    spans = build_timeline(
        recorded=[(0, 100), (120, 200)],
        voice=[(10, 30), (30.5, 40), (90, 130), (150, 160)],
        music=[(35, 60)],
        silences=[(155, 158)],
        hour_s=200,
    )
    got = [(round(s.start_s, 1), round(s.end_s, 1), s.kind, s.source) for s in spans]
    assert got == [
        (0, 10, "unknown", "none"),
        (10, 35, "speech", "vad"),  # the 0.5 s pause stays inside the talk
        (35, 60, "music", "airplay"),
        (60, 90, "unknown", "none"),
        (90, 100, "speech", "vad"),
        (100, 120, "unknown", "no_audio"),  # no recording beats the VAD's opinion
        (120, 130, "speech", "vad"),
        (130, 150, "unknown", "none"),
        (150, 155, "speech", "vad"),
        (155, 158, "silence", "silences"),
        (158, 160, "speech", "vad"),
        (160, 200, "unknown", "none"),
    ]
    assert subtract_spans([(0, 10)], [(2, 3), (5, 20)]) == [(0, 2), (3, 5)]


@pytest.fixture(scope="module")
def vad_false_positive() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Real music that Silero VAD partly takes for speech (drascula track1, its first 2 minutes)."""
    track = next(t for t in drascula_tracks() if t.name == "track1.ogg")
    samples = decode_mono(track, SR, duration_s=120)
    voice = detect_voice([(0.0, samples)])
    assert sum(b - a for a, b in voice) > 3, "this clip was chosen because VAD flags some of it"
    return samples, voice


def test_airplay_music_and_silences_are_taken_out_of_speech(tmp_path: Path, vad_false_positive) -> None:
    samples, voice = vad_false_positive
    pieces = [(300.0, samples)]  # the clip sits 5 min into the hour
    alone, used = hour_timeline(tmp_path, "radio-x", HOUR, pieces)
    assert used == {"airplay_events": False, "unknown_music": False, "silences": False}
    assert sum(s.duration_s for s in alone if s.kind == "speech") > 3  # without airplay, VAD is believed

    write_asset_hour(tmp_path, "airplay_events", "radio-x", HOUR,
                     pd.DataFrame({"start_s": [300.0], "end_s": [390.0]}), _spans_schema([]))  # fmt: skip
    write_asset_hour(tmp_path, "unknown_music", "radio-x", HOUR,
                     pd.DataFrame({"start_s": [390.0], "end_s": [420.0]}), _spans_schema([]))  # fmt: skip
    write_asset_hour(tmp_path, "silences", "radio-x", HOUR,
                     pd.DataFrame({"start_s": [0.0], "end_s": [2.0]}), _spans_schema([]))  # fmt: skip
    spans, used = hour_timeline(tmp_path, "radio-x", HOUR, pieces)
    assert all(used.values())
    assert not [s for s in spans if s.kind == "speech"]
    music = [s for s in spans if s.kind == "music"]
    assert (music[0].start_s, music[-1].end_s) == (300.0, 420.0)
    assert spans[0].kind == "unknown" and spans[0].source == "no_audio"  # no_audio wins over the silence file


def test_long_speech_is_cut_at_a_pause_and_packed_into_windows() -> None:
    prompt = decode_mono(SPEECH_PROMPT, SR)
    audio = np.concatenate([prompt, prompt, prompt])  # ~82 s of continuous talk
    piece = (1000.0, audio)
    span = (1000.0, 1000.0 + len(audio) / SR)
    parts = split_span(span, piece)
    assert len(parts) >= 3
    assert all(b - a <= 29.0 + 1e-6 for a, b in parts)
    assert parts[0][0] == span[0] and parts[-1][1] == span[1]
    # Cuts land on quiet frames, not in the middle of a word.
    for _, cut in parts[:-1]:
        at = int((cut - 1000.0) * SR)
        around = audio[max(0, at - 160) : at + 160].astype(np.float64)
        assert np.sqrt((around**2).mean()) < np.sqrt((audio.astype(np.float64) ** 2).mean())

    short = [(10.0, 14.0), (20.0, 25.0), (40.0, 62.0)]
    packed, windows = pack(short, [(0.0, np.ones(100 * SR, dtype=np.int16))])
    assert [len(w.placed) for w in windows] == [2, 1]  # 4 s + 5 s share a window; 22 s more would overflow it
    assert all(w.end_s - w.start_s <= WINDOW_S for w in windows)
    assert len(packed) == pytest.approx(SR * (4 + 0.3 + 5 + 22), abs=2)
    hour_s, placed = windows[0].to_hour(4.3 + 1.0)  # one second into the second span
    assert hour_s == pytest.approx(21.0, abs=0.01) and placed.hour_s == 20.0


@pytest.mark.parametrize(
    ("text", "logprob", "no_speech", "ratio", "reason"),
    [
        ("Pour verrouiller la conférence, appuyez sur 2.", -0.3, 0.05, 1.1, None),
        ("  ...  ", -0.3, 0.05, 1.0, "empty"),
        ("Sous-titrage Société Radio-Canada", -0.4, 0.2, 1.0, "known_hallucination"),
        ("Merci d'avoir regardé !", -0.2, 0.1, 1.0, "known_hallucination"),
        ("Musique douce", -1.3, 0.8, 1.0, "no_speech"),
        ("quelque chose d'incertain", -1.4, 0.1, 1.0, "low_logprob"),
        ("la la la la la la la la la la la la", -0.2, 0.1, 3.1, "compression_ratio"),
        ("Merci. Merci. Merci. Merci. Merci.", -0.2, 0.1, 1.9, "repetition"),
    ],
)
def test_guards(text: str, logprob: float, no_speech: float, ratio: float, reason: str | None) -> None:
    assert drop_reason(text, logprob, no_speech, ratio) == reason


def test_repetition_loop_allows_normal_repeats() -> None:
    assert not repetition_loop("Appuyez sur 4 ou 6. Appuyez sur 5. Appuyez sur 7 ou 9.")
    assert repetition_loop("on y va on y va on y va on y va")


def test_mentions_match_whole_words_without_case_or_accents() -> None:
    transcript = pd.DataFrame(
        {
            "segment_id": ["a", "b", "c", "d"],
            "start": pd.to_datetime(["2026-11-20T10:00:01Z"] * 4),
            "end": pd.to_datetime(["2026-11-20T10:00:03Z"] * 4),
            "start_s": [1.0, 5.0, 9.0, 12.0],
            "end_s": [3.0, 7.0, 11.0, 14.0],
            "text": ["Élections à Montréal", "les electionS", "électionsXYZ", "Jean-Pierre Dupont parle"],
            "dropped": [False, False, False, True],
        }
    )
    rows = find_mentions(transcript, ["elections", "Jean Pierre Dupont"])
    assert [(r["term"], r["segment_id"]) for r in rows] == [("elections", "a"), ("elections", "b")]
    assert term_pattern("Jean Pierre").search("jean-pierre")
    with pytest.raises(ValueError, match="watch term"):
        term_pattern(" - ")


def test_whisper_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIGE_WHISPER_DEVICE", "tpu")
    with pytest.raises(ValueError, match="PIGE_WHISPER_DEVICE"):
        WhisperSettings.from_env()
    monkeypatch.delenv("PIGE_WHISPER_DEVICE")
    monkeypatch.setenv("PIGE_WHISPER_MODEL", str(tmp_path))
    with pytest.raises(ValueError, match="no model.bin"):
        WhisperSettings.from_env().model_path()
    monkeypatch.setenv("PIGE_WHISPER_MODEL", "whisper-giant")
    with pytest.raises(ValueError, match="neither an existing directory"):
        WhisperSettings.from_env().model_path()
    monkeypatch.delenv("PIGE_WHISPER_MODEL")
    assert Path(WhisperSettings.from_env().model_path(), "model.bin").exists()


def test_timeline_schema_matches_rows() -> None:
    from pige_pipeline.speech.timeline import timeline_rows

    rows = timeline_rows(build_timeline([(0, 10)], [(2, 5)], hour_s=10), HOUR)
    assert set(rows[0]) | {"station", "hour"} == set(SPEECH_SEGMENTS_SCHEMA.names)
