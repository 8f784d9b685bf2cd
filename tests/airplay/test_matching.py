"""Real music, ffmpeg and libchromaprint: plays found with their bounds, none in talk or other music."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pige_pipeline.airplay import FINGERPRINTS_SCHEMA, fingerprint_rows
from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.index import SPEEDS, load_index, update_index
from pige_pipeline.airplay.matcher import Play, match_fingerprint_rows
from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.cli import app

from .conftest import RATE, Broadcast, Catalogue


@pytest.fixture(scope="module")
def index(small_catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory):
    update = update_index(load_catalogue(small_catalogue.csv), tmp_path_factory.mktemp("state"))
    assert not update.problems
    return update.index


def detect(index, path: Path) -> list[Play]:
    rows = fingerprint_rows([(0.0, decode_mono(path, RATE))], RATE)
    return match_fingerprint_rows(index, rows)


def test_fingerprint_rows_follow_the_schema() -> None:
    samples = (np.sin(np.arange(RATE * 10) * 0.05) * 8000).astype(np.int16)
    rows = fingerprint_rows([(12.5, samples), (30.0, samples[: RATE // 2])], RATE)
    names = {f.name for f in FINGERPRINTS_SCHEMA} - {"station", "hour"}
    assert [set(r) for r in rows] == [names, names]
    assert rows[0]["part_offset_s"] == 12.5 and rows[0]["speed"] == 1.0
    # ~8 sub-fingerprints per second once Chromaprint's 2.7 s window is filled; half a second gives none.
    assert 55 <= len(rows[0]["fingerprint"]) <= 81 and len(rows[1]["fingerprint"]) == 0
    with pytest.raises(ValueError, match="11025"):
        fingerprint_rows([(0.0, samples)], 16000)


def test_plays_found_with_bounds_talk_over_and_nothing_in_talk_or_other_music(
    index, broadcast: Broadcast
) -> None:
    plays = detect(index, broadcast.path)
    assert [p.track_id for p in plays] == [tid for tid, _, _ in broadcast.plays]
    for play, (_tid, start, end) in zip(plays, broadcast.plays, strict=True):
        assert abs(play.start_s - start) <= 1.0, (play, start)
        assert abs(play.end_s - end) <= 1.5, (play, end)
        assert play.speed == 1.0 and 0.9 <= play.confidence <= 1.0
    # The talk-over play is one play, not two around the voice.
    assert plays[1].duration_s > 35
    # The play joined 12 s into the track reports where in the track it started.
    assert abs(plays[2].ref_offset_s - 12.0) <= 1.0
    for a, b in (broadcast.speech, broadcast.outside):
        assert all(min(p.end_s, b) - max(p.start_s, a) <= 1.5 for p in plays)


def test_play_two_percent_fast_is_found(index, small_catalogue: Catalogue, tmp_path: Path) -> None:
    fast = tmp_path / "fast.mp3"
    from .conftest import ffmpeg

    ffmpeg("-i", str(small_catalogue.tracks["SNG-002"]), "-af", "asetrate=44982,aresample=44100", str(fast))
    plays = detect(index, fast)
    assert [p.track_id for p in plays] == ["SNG-002"]
    assert plays[0].speed == pytest.approx(1.02)
    assert plays[0].end_s == pytest.approx(40 / 1.02, abs=1.5)


def test_out_of_catalogue_music_gives_no_play(index, small_catalogue: Catalogue) -> None:
    assert detect(index, small_catalogue.outside) == []


def test_index_is_persisted_and_incremental(small_catalogue: Catalogue, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = update_index(load_catalogue(small_catalogue.csv), state)
    assert sorted(first.fingerprinted) == sorted(small_catalogue.tracks) and not first.reused
    again = update_index(load_catalogue(small_catalogue.csv), state)
    assert again.fingerprinted == [] and sorted(again.reused) == sorted(small_catalogue.tracks)
    loaded = load_index(state)
    assert loaded is not None and list(loaded.tracks["track_id"]) == list(first.index.tracks["track_id"])
    assert np.array_equal(np.asarray(loaded.values), first.index.values)
    assert len(loaded.speeds) == len(SPEEDS)


def test_cli_detect_writes_station_rows(
    small_catalogue: Catalogue, broadcast: Broadcast, tmp_path: Path
) -> None:
    out = tmp_path / "plays.csv"
    result = CliRunner().invoke(
        app,
        ["airplay", "detect", "--catalogue", str(small_catalogue.csv), str(broadcast.path), "--csv", str(out),
         "--data-root", str(tmp_path / "data")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["station", "track_id", "start_s", "end_s", "score"]
    assert [(r["station"], r["track_id"]) for r in rows] == [("radio-one", t) for t, _, _ in broadcast.plays]
    assert all(0.5 < float(r["score"]) <= 1.0 for r in rows)
