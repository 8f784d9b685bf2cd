"""A presenter talking over a track's intro: the play starts with the track, not where the voice stops."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import wavfile

from pige_pipeline.airplay import FINGERPRINTS_SCHEMA, fingerprint_rows
from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.fine_presence import HEAD_S, SamplesAudio, head_peaks
from pige_pipeline.airplay.index import NOTE_FRAMES, load_index, save_index, update_index
from pige_pipeline.airplay.matcher import Play, match_fingerprint_rows
from pige_pipeline.airplay.presence import BANDS, HEAD_FRAMES
from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.defs.airplay.assets import airplay_events
from pige_pipeline.store.chunks import chunk_path
from pige_pipeline.store.parquet import read_asset_hour, write_asset_hour
from pige_pipeline.testing.sources import singularity_tracks

from .conftest import RATE, Catalogue, excerpt, materialize, mix_to_mp3, speech, station_data_root

HOUR = datetime(2026, 3, 1, 10, tzinfo=UTC)
DUCK_DB = 8.0
TALK_S = 15.0
BEFORE_S = 10.0
# The faded intro: its first FADE_S rise by FADE_DB.
FADE_S = 12.0
FADE_DB = 30.0


@pytest.fixture(scope="module")
def index(small_catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory):
    return update_index(
        load_catalogue(small_catalogue.csv), tmp_path_factory.mktemp("state"), persist=False
    ).index


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _detect(index, segments: list[np.ndarray], dest: Path, decoded: bool = True) -> list[Play]:
    """The plays in the segments aired one after the other (as MP3). `decoded`: the matcher may decode
    the audio and the catalogue files for the notes test, as the pipeline does."""
    path = mix_to_mp3([np.clip(s, -32768, 32767).astype(np.int16) for s in segments], dest)
    samples = decode_mono(path, RATE)
    audio = SamplesAudio([(0.0, samples)], index) if decoded else None
    return match_fingerprint_rows(index, fingerprint_rows([(0.0, samples)], RATE), audio=audio)


def test_play_under_a_voice_starts_with_the_track(small_catalogue: Catalogue, index, tmp_path: Path) -> None:
    track = decode_mono(small_catalogue.tracks["SNG-001"], RATE).astype(np.float64)
    voice = speech(BEFORE_S + TALK_S).astype(np.float64)
    voice *= _rms(track) / _rms(voice)  # the presenter as loud as the track, which is ducked under her
    alone, over = voice[: int(BEFORE_S * RATE)], voice[int(BEFORE_S * RATE) :]
    talk_over = track.copy()
    talk_over[: len(over)] = talk_over[: len(over)] * 10 ** (-DUCK_DB / 20) + over
    plays = _detect(index, [alone, talk_over], tmp_path / "talk-over.mp3")
    assert [p.track_id for p in plays] == ["SNG-001"], plays
    assert abs(plays[0].start_s - BEFORE_S) <= 1.0, f"start {plays[0].start_s:.2f} s, track at {BEFORE_S} s"
    assert abs(plays[0].end_s - (BEFORE_S + len(track) / RATE)) <= 2.0


def test_talk_then_a_track_joined_mid_way_is_not_extended(
    small_catalogue: Catalogue, index, tmp_path: Path
) -> None:
    """Speech alone before the track is not a talk-over: the play starts where the track comes in."""
    track = decode_mono(small_catalogue.tracks["SNG-001"], RATE).astype(np.float64)
    voice = speech(BEFORE_S + TALK_S).astype(np.float64)
    voice *= _rms(track) / _rms(voice)
    joined_at_s = 12.0
    plays = _detect(index, [voice, track[int(joined_at_s * RATE) :]], tmp_path / "joined.mp3")
    assert [p.track_id for p in plays] == ["SNG-001"], plays
    # Within the matcher's edge error, never seconds earlier as an extension to the track's start would be.
    assert plays[0].start_s >= BEFORE_S + TALK_S - 3.0, f"start {plays[0].start_s:.2f} s"


def _talk_over_intro(small_catalogue: Catalogue, track_id: str, talk_s: float = TALK_S) -> np.ndarray:
    """The track with a presenter (real French speech, as loud as the track) over its first seconds."""
    track = decode_mono(small_catalogue.tracks[track_id], RATE).astype(np.float64)
    voice = speech(talk_s).astype(np.float64)
    voice *= _rms(track) / _rms(voice)
    mixed = track.copy()
    mixed[: len(voice)] = mixed[: len(voice)] * 10 ** (-DUCK_DB / 20) + voice
    return mixed


def test_talk_over_at_the_start_of_a_recording(small_catalogue: Catalogue, index, tmp_path: Path) -> None:
    """Nothing before the voice but the recording's silent lead-in: the play still starts with the track."""
    lead_in_s = 5.0
    silence = np.zeros(int(lead_in_s * RATE))
    plays = _detect(index, [silence, _talk_over_intro(small_catalogue, "SNG-001")], tmp_path / "start.mp3")
    assert [p.track_id for p in plays] == ["SNG-001"], plays
    assert abs(plays[0].start_s - lead_in_s) <= 1.0, f"start {plays[0].start_s:.2f} s, track at {lead_in_s} s"


def test_talk_over_right_after_another_play(small_catalogue: Catalogue, index, tmp_path: Path) -> None:
    """A track ends, the next one starts under the presenter's voice: it starts where the first ended."""
    first = decode_mono(small_catalogue.tracks["SNG-002"], RATE).astype(np.float64)
    second = _talk_over_intro(small_catalogue, "SNG-001")
    plays = _detect(index, [first, second], tmp_path / "after.mp3")
    assert [p.track_id for p in plays] == ["SNG-002", "SNG-001"], plays
    boundary = len(first) / RATE
    assert abs(plays[1].start_s - boundary) <= 1.0, f"start {plays[1].start_s:.2f} s, track at {boundary:.2f}"


def test_talk_over_with_no_level_change_is_heard_in_the_track_spectrum(
    small_catalogue: Catalogue, index, tmp_path: Path
) -> None:
    """The presenter talks on over the intro with the track ducked 10 dB for 25 s: the voice's level
    figures barely change where the track comes in (the level rule does not extend, as on held-out
    AAC 48k), but the band spectrum under the voice follows the track's own first seconds."""
    track = decode_mono(small_catalogue.tracks["SNG-002"], RATE).astype(np.float64)
    talk_s = 25.0
    voice = speech(BEFORE_S + talk_s).astype(np.float64)
    voice *= _rms(track) / _rms(voice)
    alone, over = voice[: int(BEFORE_S * RATE)], voice[int(BEFORE_S * RATE) :]
    talk_over = track.copy()
    talk_over[: len(over)] = talk_over[: len(over)] * 10 ** (-10.0 / 20) + over
    plays = _detect(index, [alone, talk_over], tmp_path / "no-change.mp3")
    assert [p.track_id for p in plays] == ["SNG-002"], plays
    assert abs(plays[0].start_s - BEFORE_S) <= 2.0, f"start {plays[0].start_s:.2f} s, track at {BEFORE_S} s"


@pytest.fixture(scope="module")
def notes_catalogue(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    """One 60-s catalogue track (Singularity, the sixth track from 20 s)."""
    root = tmp_path_factory.mktemp("notes")
    (root / "audio").mkdir()
    track = excerpt(singularity_tracks()[5], 20, 60, root / "audio" / "NOTES-01.flac")
    row = {
        "track_id": "NOTES-01",
        "title": "Notes",
        "artist": "Singularity",
        "isrc": "",
        "path": "audio/NOTES-01.flac",
    }
    csv = root / "catalogue.csv"
    pd.DataFrame([row]).to_csv(csv, index=False)
    return Catalogue(csv, root, {"NOTES-01": track}, track)


def _talk_then_voice_over_notes(catalogue: Catalogue) -> list[np.ndarray]:
    """10 s of talk, then the presenter talks 15 s over the intro of NOTES-01, ducked 8 dB."""
    track = decode_mono(catalogue.tracks["NOTES-01"], RATE).astype(np.float64)
    voice = speech(BEFORE_S + TALK_S).astype(np.float64)
    alone, over = voice[: int(BEFORE_S * RATE)], voice[int(BEFORE_S * RATE) :]
    over *= _rms(track[int(12 * RATE) :]) / _rms(over)
    alone *= _rms(track) / _rms(alone)
    talk_over = track.copy()
    talk_over[: len(over)] = talk_over[: len(over)] * 10 ** (-DUCK_DB / 20) + over
    return [alone, talk_over]


def test_talk_then_a_voice_over_the_intro_is_heard_in_the_notes(
    notes_catalogue: Catalogue, tmp_path: Path
) -> None:
    """The level figures see speech then speech and the band spectrum does not follow the track under
    the voice, but the track's notes stand out between the voice's harmonics in the decoded audio."""
    index = update_index(load_catalogue(notes_catalogue.csv), tmp_path / "state", persist=False).index
    segments = _talk_then_voice_over_notes(notes_catalogue)
    stored_only = _detect(index, segments, tmp_path / "stored.mp3", decoded=False)
    assert [p.track_id for p in stored_only] == ["NOTES-01"], stored_only
    assert stored_only[0].start_s > BEFORE_S + 5.0, "the stored figures alone found it: pick another mix"
    plays = _detect(index, segments, tmp_path / "notes.mp3")
    assert [p.track_id for p in plays] == ["NOTES-01"], plays
    assert abs(plays[0].start_s - BEFORE_S) <= 1.0, f"start {plays[0].start_s:.2f} s, track at {BEFORE_S} s"
    # An index saved before it kept the tracks' peaks: the catalogue file's first seconds are decoded.
    older = _detect(replace(index, note_peaks=None, note_frames=None), segments, tmp_path / "older.mp3")
    assert [(p.track_id, p.start_s) for p in older] == [(p.track_id, p.start_s) for p in plays]


def test_the_index_keeps_each_tracks_peaks_and_completes_older_prints(
    notes_catalogue: Catalogue, tmp_path: Path
) -> None:
    """The peaks the notes test looks for are those of the catalogue file's first seconds; prints cached
    by an older pige (without them) get them on the next update, from the file's first seconds only."""
    state = tmp_path / "state"
    index = update_index(load_catalogue(notes_catalogue.csv), state).index
    expected = head_peaks(decode_mono(notes_catalogue.tracks["NOTES-01"], RATE, duration_s=HEAD_S))
    assert len(expected) == NOTE_FRAMES and (expected >= 0).any()
    assert np.array_equal(index.head_peaks_of(0), expected)
    loaded = load_index(state)
    assert loaded is not None and np.array_equal(loaded.head_peaks_of(0), expected)
    assert (
        json.loads((state / (state / "CURRENT").read_text()).joinpath("meta.json").read_text())["format"] == 3
    )

    (cached,) = (state / "tracks").glob("*.npz")
    with np.load(cached) as data:
        old = {k: data[k] for k in data.files if k != "note_peaks"}
    np.savez(cached, **old)
    update = update_index(load_catalogue(notes_catalogue.csv), state)
    assert update.reused == ["NOTES-01"] and update.fingerprinted == []
    assert np.array_equal(update.index.head_peaks_of(0), expected)
    with np.load(cached) as data:
        assert np.array_equal(data["note_peaks"], expected)


@pytest.mark.slow  # two Dagster runs and a catalogue index
def test_the_hourly_asset_decodes_the_chunk_for_the_notes(notes_catalogue: Catalogue, tmp_path: Path) -> None:
    """`airplay_events` decodes the stretch from the hour's chunk in the store and the intro from the
    catalogue file: the same start as above, through the pipeline."""
    data_root = station_data_root(notes_catalogue.dir, tmp_path)
    at_s = 600.0  # the chunk begins 10 min into the hour (the recorder restarted there)
    mp3 = mix_to_mp3(
        [np.clip(s, -32768, 32767).astype(np.int16) for s in _talk_then_voice_over_notes(notes_catalogue)],
        tmp_path / "chunk.mp3",
    )
    chunk = chunk_path(data_root, "fm1", HOUR + timedelta(seconds=at_s), "mp3")
    chunk.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(mp3, chunk)
    rows = fingerprint_rows([(at_s, decode_mono(chunk, RATE))], RATE)
    write_asset_hour(data_root, "fingerprints", "fm1", HOUR, rows, FINGERPRINTS_SCHEMA)
    assert materialize([airplay_events], data_root, HOUR).success
    events = read_asset_hour(data_root, "airplay_events", "fm1", HOUR)
    assert list(events["track_id"]) == ["NOTES-01"], events
    assert abs(events["start_s"].iat[0] - (at_s + BEFORE_S)) <= 1.0, events["start_s"].iat[0]
    # Without the chunk (expired), the stored figures alone decide: the intro starts late, no error.
    chunk.unlink()
    assert materialize([airplay_events], data_root, HOUR).success
    events = read_asset_hour(data_root, "airplay_events", "fm1", HOUR)
    assert events["start_s"].iat[0] > at_s + BEFORE_S + 5.0, events["start_s"].iat[0]


def test_other_music_then_a_track_joined_mid_way_is_not_extended(
    small_catalogue: Catalogue, index, tmp_path: Path
) -> None:
    """Other music does not follow the track's first seconds: a mid-track join after it stays put."""
    track = decode_mono(small_catalogue.tracks["SNG-001"], RATE).astype(np.float64)
    other = decode_mono(small_catalogue.outside, RATE).astype(np.float64)[: int(20 * RATE)]
    joined_at_s = 12.0
    plays = _detect(index, [other, track[int(joined_at_s * RATE) :]], tmp_path / "music-join.mp3")
    assert [p.track_id for p in plays] == ["SNG-001"], plays
    assert plays[0].start_s >= len(other) / RATE - 3.0, f"start {plays[0].start_s:.2f} s"


def test_an_index_saved_before_the_head_spectra_still_loads(index, tmp_path: Path) -> None:
    """A format-1 index (no `heads`) and a format-2 one (no `note_peaks`) load; the talk-over rule then
    goes without the spectrum test, the notes test decodes the tracks' first seconds."""
    state = tmp_path / "state"

    def saved_format() -> int:
        return json.loads((state / (state / "CURRENT").read_text()).joinpath("meta.json").read_text())[
            "format"
        ]

    save_index(replace(index, heads=None, note_peaks=None, note_frames=None), state)
    assert saved_format() == 1
    loaded = load_index(state)
    assert loaded is not None and loaded.heads is None and loaded.n_tracks == index.n_tracks
    assert loaded.head_peaks_of(0) is None
    save_index(replace(index, note_peaks=None, note_frames=None), state)
    assert saved_format() == 2
    loaded = load_index(state)
    assert loaded is not None and loaded.heads is not None and loaded.note_peaks is None
    save_index(index, state)
    again = load_index(state)
    assert again is not None and np.array_equal(np.asarray(again.heads), index.heads)
    assert again.heads.shape == (index.n_tracks, HEAD_FRAMES, BANDS)


@pytest.fixture(scope="module")
def faded_catalogue(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    """One 60-s catalogue track whose intro rises by 30 dB over its first 12 s, and one other track."""
    root = tmp_path_factory.mktemp("faded")
    (root / "audio").mkdir()
    music = singularity_tracks()
    source = excerpt(music[7], 20, 60, root / "source.flac")
    x = decode_mono(source, 44100).astype(np.float64)
    gain_db = np.clip(np.arange(len(x)) / 44100 / FADE_S, 0.0, 1.0) * FADE_DB - FADE_DB
    faded = root / "audio" / "FADE-01.wav"
    wavfile.write(faded, 44100, np.clip(x * 10 ** (gain_db / 20), -32768, 32767).astype(np.int16))
    other = excerpt(music[8], 20, 40, root / "audio" / "OTHER-01.flac")
    rows = [
        {"track_id": "FADE-01", "title": "Fade", "artist": "Singularity", "isrc": "FRX002609001",
         "path": "audio/FADE-01.wav"},
        {"track_id": "OTHER-01", "title": "Other", "artist": "Singularity", "isrc": "FRX002609002",
         "path": f"audio/{other.name}"},
    ]  # fmt: skip
    csv = root / "catalogue.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return Catalogue(csv, root, {"FADE-01": faded, "OTHER-01": other}, other)


@pytest.fixture(scope="module")
def faded_index(faded_catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory):
    return update_index(
        load_catalogue(faded_catalogue.csv), tmp_path_factory.mktemp("faded-state"), persist=False
    ).index


def _voice_over_fade(catalogue: Catalogue, voice: np.ndarray) -> np.ndarray:
    """The faded track with `voice` over its intro, ducked `DUCK_DB` under it (voice as loud as the
    track's body)."""
    track = decode_mono(catalogue.tracks["FADE-01"], RATE).astype(np.float64)
    voice = voice * _rms(track[int(FADE_S * RATE) :]) / _rms(voice)
    mixed = track.copy()
    mixed[: len(voice)] = mixed[: len(voice)] * 10 ** (-DUCK_DB / 20) + voice
    return mixed


@pytest.mark.xfail(strict=True, reason="known miss (docs/airplay.md): a quiet intro masked by the voice")
def test_a_quiet_intro_under_a_voice_right_after_another_play(
    faded_catalogue: Catalogue, faded_index, tmp_path: Path
) -> None:
    """A track ends and the presenter talks 12 s over the next one's intro, which fades in by 30 dB: the
    stretch scores as plain speech and the track is not heard under it, but the play before ends where
    the track's start falls (a mid-track join that far in after that much talk would be a coincidence)."""
    first = decode_mono(faded_catalogue.tracks["OTHER-01"], RATE).astype(np.float64)
    second = _voice_over_fade(faded_catalogue, speech(12.0).astype(np.float64))
    plays = _detect(faded_index, [first, second], tmp_path / "after.mp3")
    assert [p.track_id for p in plays] == ["OTHER-01", "FADE-01"], plays
    boundary = len(first) / RATE
    assert abs(plays[1].start_s - boundary) <= 1.0, f"start {plays[1].start_s:.2f} s, track at {boundary:.2f}"


def test_talk_between_plays_then_a_join_as_far_in_as_the_talk_lasted_is_not_extended(
    faded_catalogue: Catalogue, faded_index, tmp_path: Path
) -> None:
    """A play, 10 s of talk, then a track joined 10 s in: its inferred start falls where the play before
    ends, as a talked-over intro's would, but the stretch is plain speech (tests/scale's hour)."""
    first = decode_mono(faded_catalogue.tracks["FADE-01"], RATE).astype(np.float64)
    track = decode_mono(faded_catalogue.tracks["OTHER-01"], RATE).astype(np.float64)
    talk_s = 10.0
    voice = speech(talk_s).astype(np.float64)
    voice *= _rms(track) / _rms(voice)
    plays = _detect(faded_index, [first, voice, track[int(talk_s * RATE) :]], tmp_path / "join.mp3")
    assert [p.track_id for p in plays] == ["FADE-01", "OTHER-01"], plays
    join = (len(first) + len(voice)) / RATE
    assert plays[1].start_s >= join - 3.0, f"start {plays[1].start_s:.2f} s, joined at {join:.2f} s"


def test_talk_after_a_play_then_a_mid_track_join_is_not_extended(
    faded_catalogue: Catalogue, faded_index, tmp_path: Path
) -> None:
    """A play, 25 s of talk, then a track joined 14 s in: the inferred start falls 11 s after the play
    before ends, so nothing adjoins it, and plain speech is not a bed: the play starts at the join."""
    first = decode_mono(faded_catalogue.tracks["OTHER-01"], RATE).astype(np.float64)
    track = decode_mono(faded_catalogue.tracks["FADE-01"], RATE).astype(np.float64)
    voice = speech(25.0).astype(np.float64)
    voice *= _rms(track) / _rms(voice)
    plays = _detect(faded_index, [first, voice, track[int(14.0 * RATE) :]], tmp_path / "join.mp3")
    assert [p.track_id for p in plays] == ["OTHER-01", "FADE-01"], plays
    join = (len(first) + len(voice)) / RATE
    assert plays[1].start_s >= join - 3.0, f"start {plays[1].start_s:.2f} s, joined at {join:.2f} s"


@pytest.mark.xfail(strict=True, reason="known miss (docs/airplay.md): a quiet intro masked by the voice")
def test_a_quiet_intro_under_a_voice_after_talk_alone(
    faded_catalogue: Catalogue, faded_index, tmp_path: Path
) -> None:
    """The presenter talks 10 s alone, then 18 s over an intro that fades in by 30 dB (as H045 on the
    held-out AAC 48k station): nothing in the audio shows where the track began under the voice, so the
    play starts where the track becomes audible. Kept as a strict xfail: it fails the day this is solved."""
    voice = speech(BEFORE_S + 18.0).astype(np.float64)
    talk_over = _voice_over_fade(faded_catalogue, voice[int(BEFORE_S * RATE) :])
    alone = voice[: int(BEFORE_S * RATE)] * _rms(talk_over) / _rms(voice)
    plays = _detect(faded_index, [alone, talk_over], tmp_path / "fade.mp3")
    assert [p.track_id for p in plays] == ["FADE-01"], plays
    assert abs(plays[0].start_s - BEFORE_S) <= 2.0, f"start {plays[0].start_s:.2f} s, track at {BEFORE_S} s"
