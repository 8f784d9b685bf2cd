"""Unknown music is found in music, not in speech or silence (real music and real speech)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pige_pipeline.airplay import fingerprint_rows
from pige_pipeline.airplay.matcher import Play
from pige_pipeline.airplay.music_likeness import level_profile, music_seconds, profile_from_row
from pige_pipeline.airplay.unknown import Piece, unknown_segments
from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.cli import app
from pige_pipeline.testing.sources import asc_tracks
from tests.airplay.conftest import RATE, Broadcast, Catalogue, speech


def _piece(samples: np.ndarray, offset_s: float = 0.0, with_profile: bool = True) -> Piece:
    row = fingerprint_rows([(offset_s, samples)], RATE)[0]
    return Piece(offset_s, row["fingerprint"], profile_from_row(row) if with_profile else None)


def test_level_profile_has_one_value_per_whole_second() -> None:
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(int(12.5 * RATE)) * 3000).astype(np.int16)
    profile = level_profile(noise, RATE)
    assert {k: len(v) for k, v in profile.items()} == {"level_db": 12, "level_sd_db": 12, "level_dips": 12}
    # steady noise: about -21 dBFS (90th-percentile frame), tiny spread, no dips
    assert np.all(np.abs(profile["level_db"] + 20.8) < 1.5), profile["level_db"]
    assert profile["level_sd_db"].max() < 1.0 and profile["level_dips"].max() == 0.0
    silent = level_profile(np.zeros(5 * RATE, dtype=np.int16), RATE)
    assert not music_seconds(silent).any()


def test_music_between_speech_is_one_segment_and_speech_is_none(small_catalogue: Catalogue) -> None:
    music = decode_mono(small_catalogue.outside, RATE)  # 40 s of real music, in no catalogue
    talk = speech(60)
    segments = unknown_segments(_piece(np.concatenate([talk, music, talk]), offset_s=100.0), plays=[])
    assert len(segments) == 1, [(s.start_s, s.end_s) for s in segments]
    seg = segments[0]
    # the music is at 160-200 s into the hour; run ends are decided over 5 s, so within a few seconds
    assert 156 <= seg.start_s <= 164 and 196 <= seg.end_s <= 204, (seg.start_s, seg.end_s)
    assert seg.music_score < 16.0


def test_speech_alone_and_silence_are_not_unknown_music() -> None:
    assert unknown_segments(_piece(speech(90)), plays=[]) == []
    assert unknown_segments(_piece(np.zeros(60 * RATE, dtype=np.int16)), plays=[]) == []


def test_music_that_repeats_little_is_found_at_any_level() -> None:
    """asc's Machine Wars: self-similarity 0.25, which the older test (< 0.20) missed; also 12 dB down."""
    track = next(p for p in asc_tracks() if p.stem == "machine_wars")
    music = decode_mono(track, RATE)[30 * RATE : 90 * RATE]
    for samples in (music, (music.astype(np.float32) / 4).astype(np.int16)):
        segments = unknown_segments(_piece(samples), plays=[])
        assert len(segments) == 1 and segments[0].duration_s >= 55, [(s.start_s, s.end_s) for s in segments]
        assert segments[0].self_similarity >= 0.2


@pytest.mark.parametrize("with_profile", [True, False])
def test_a_play_explains_its_music(small_catalogue: Catalogue, with_profile: bool) -> None:
    """Music inside a catalogue play is not unknown, with or without a level profile (old fingerprints)."""
    music = decode_mono(small_catalogue.outside, RATE)
    play = Play(
        0, "X", start_s=0.0, end_s=40.0, ref_offset_s=0.0, speed=1.0, ber=0.1, n_items=300, diagonal=0
    )
    assert unknown_segments(_piece(music, with_profile=with_profile), plays=[play]) == []


def test_cli_unknown_finds_the_other_music_of_a_broadcast(
    small_catalogue: Catalogue, broadcast: Broadcast, tmp_path: Path
) -> None:
    """`pige airplay unknown`: the out-of-catalogue music between plays, not the talk, not the plays."""
    out = tmp_path / "unknown.csv"
    args = ["--catalogue", str(small_catalogue.csv), "--csv", str(out), "--data-root", str(tmp_path / "data")]
    result = CliRunner().invoke(app, ["airplay", "unknown", *args, str(broadcast.path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["station"] for r in rows] == ["radio-one"], rows
    start, end = float(rows[0]["start_s"]), float(rows[0]["end_s"])
    a, b = broadcast.outside
    # bounded by the plays on each side (less PLAY_MARGIN_S); the talk is elsewhere
    assert a - 1 <= start <= a + 5 and b - 5 <= end <= b + 1, (start, end, broadcast.outside)
    assert float(rows[0]["music_score"]) < 16
