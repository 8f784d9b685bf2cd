"""A programme time-compressed 3 % with its pitch kept (a broadcast "time machine") airs a track whole:
one play, not pieces of it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from pige_pipeline.airplay import fingerprint_rows
from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.index import update_index
from pige_pipeline.airplay.matcher import DEFAULT_PARAMS, match_fingerprint_rows
from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.testing.sources import SINGULARITY_MUSIC

from .conftest import RATE, ffmpeg

MEDIA_THREAT = SINGULARITY_MUSIC / "Media Threat.ogg"
TEMPO = 1.03


def test_a_time_compressed_track_is_one_play(tmp_path: Path) -> None:
    """ "Media Threat" (348 s) at 3 % faster tempo matches at speed 1.0 and drifts 10 s off its diagonal
    over the airing: its runs disagree by more than 3 s, yet they are one airing."""
    csv = tmp_path / "catalogue.csv"
    row = {"track_id": "MT-01", "title": "Media Threat", "artist": "Singularity", "isrc": "",
           "path": str(MEDIA_THREAT)}  # fmt: skip
    pd.DataFrame([row]).to_csv(csv, index=False)
    index = update_index(load_catalogue(csv), tmp_path / "state", persist=False).index
    aired = tmp_path / "tempo.mp3"
    ffmpeg("-i", str(MEDIA_THREAT), "-af", f"atempo={TEMPO}", "-ac", "1", "-b:a", "128k", str(aired))
    rows = fingerprint_rows([(0.0, decode_mono(aired, RATE))], RATE)
    length_s = len(decode_mono(aired, RATE)) / RATE
    plays = match_fingerprint_rows(index, rows)
    assert [p.track_id for p in plays] == ["MT-01"], plays
    assert plays[0].duration_s >= 0.95 * length_s, (plays, length_s)
    # Without the drift allowance the same airing comes in pieces (as on the held-out set's 3 % station).
    pieces = match_fingerprint_rows(index, rows, replace(DEFAULT_PARAMS, merge_drift=0.0))
    assert len(pieces) >= 2, pieces
