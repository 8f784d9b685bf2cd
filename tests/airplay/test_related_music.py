"""Music that only resembles a catalogue track is not an airing of it.

Singularity's "Coherence" shares its theme with "Awakening": along one diagonal Chromaprint agrees on
~76 % of the robust bits for a minute, a middling BER that a degraded real airing also reaches. What
tells them apart is that a real airing, however degraded, has a stretch where the fingerprints agree
well (`MatchParams.window_ber`), and the resemblance never does.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pige_pipeline.airplay import fingerprint_rows
from pige_pipeline.airplay.matcher import DEFAULT_PARAMS, Play, best_window_ber, match_fingerprint_rows
from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.testing.sources import SINGULARITY_MUSIC

from .conftest import AWAKENING, RATE, excerpt, mix_to_mp3

COHERENCE = SINGULARITY_MUSIC / "Coherence.ogg"


def _broadcast(source: Path, start_s: float, seconds: float, dest: Path) -> list[dict]:
    flac = excerpt(source, start_s, seconds, dest.with_suffix(".flac"))
    path = mix_to_mp3([decode_mono(flac, RATE)], dest)
    return fingerprint_rows([(0.0, decode_mono(path, RATE))], RATE)


def test_a_related_piece_is_not_a_play_of_the_catalogue_track(awakening_index, tmp_path: Path) -> None:
    rows = _broadcast(COHERENCE, 0, 70, tmp_path / "coherence.mp3")
    without_rule = match_fingerprint_rows(awakening_index, rows, replace(DEFAULT_PARAMS, middling_ber=1.0))
    # The resemblance is strong enough to pass the BER and confidence tests alone...
    assert [p.track_id for p in without_rule] == ["AWK-01"], without_rule
    found = without_rule[0]
    assert found.ber >= DEFAULT_PARAMS.middling_ber
    assert best_window_ber(found, DEFAULT_PARAMS.window_s) >= DEFAULT_PARAMS.window_ber
    # ...and no window of it agrees the way an airing does.
    assert match_fingerprint_rows(awakening_index, rows) == []


def test_the_catalogue_track_itself_is_still_found(awakening_index, tmp_path: Path) -> None:
    rows = _broadcast(AWAKENING, 30, 60, tmp_path / "awakening.mp3")
    plays = match_fingerprint_rows(awakening_index, rows)
    assert [p.track_id for p in plays] == ["AWK-01"], plays
    assert best_window_ber(plays[0], DEFAULT_PARAMS.window_s) < 0.1


def test_best_window_ber_leaves_out_unmeasured_items() -> None:
    err = np.full(400, 0.3, dtype=np.float32)
    err[100:200] = 0.05  # one good stretch of 12 s (items of ~0.124 s)
    err[300:400] = np.nan
    play = Play(0, "T", 0.0, 50.0, 0.0, 1.0, float(np.nanmean(err)), 300, 0.0, item_err=err)
    assert best_window_ber(play, 10.0) == pytest.approx(0.05, abs=1e-6)
    err[100:200] = np.nan  # the good stretch unmeasured: it is no evidence either way
    assert best_window_ber(play, 10.0) == pytest.approx(0.3, abs=1e-6)
