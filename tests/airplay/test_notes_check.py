"""A middling play stands only where its track's notes are in the recording (`notes_check`)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.fine_presence import SamplesAudio
from pige_pipeline.airplay.index import CatalogueIndex, update_index
from pige_pipeline.airplay.matcher import Play
from pige_pipeline.airplay.notes_check import CHECK_BER, _Stretches, airings, notes_in_play
from pige_pipeline.audio.decode import decode_mono

from .conftest import RATE, Catalogue, ffmpeg

# The held-out set's FM-style chain (benchmarks/airplay_heldout.py), then AAC 64 kb/s: the condition
# where resemblances came within the matcher's middling BER.
FM_CHAIN = (
    "highpass=f=50,lowpass=f=15000,"
    "acompressor=threshold=-30dB:ratio=10:attack=2:release=50:makeup=12,alimiter=limit=0.7"
)


@pytest.fixture(scope="module")
def index(small_catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> CatalogueIndex:
    return update_index(
        load_catalogue(small_catalogue.csv), tmp_path_factory.mktemp("state"), persist=False
    ).index


def _on_fm(source: Path, dest: Path) -> np.ndarray:
    """`source` through the FM chain and AAC 64k, decoded back as the pipeline decodes a chunk."""
    ffmpeg("-i", str(source), "-af", FM_CHAIN, "-c:a", "aac", "-b:a", "64k", str(dest))
    return decode_mono(dest, RATE)


@pytest.fixture(scope="module")
def fm(small_catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """SNG-002 and the out-of-catalogue track, each aired alone through the FM chain."""
    root = tmp_path_factory.mktemp("fm")
    return {
        "SNG-002": _on_fm(small_catalogue.tracks["SNG-002"], root / "sng-002.m4a"),
        "outside": _on_fm(small_catalogue.outside, root / "outside.m4a"),
    }


def _play(
    index: CatalogueIndex, track_id: str, ber: float, start_s: float = 2.0, end_s: float = 38.0
) -> Play:
    """A play of `track_id` over [start_s, end_s), its track aligned from its own second `start_s`."""
    track = int(np.flatnonzero(index.tracks["track_id"] == track_id)[0])
    return Play(track, track_id, start_s, end_s, start_s, 1.0, ber, int((end_s - start_s) / 0.124), 0.0)


def test_the_tracks_notes_are_in_its_fm_airing_and_not_elsewhere(
    index: CatalogueIndex, fm: dict[str, np.ndarray]
) -> None:
    aired = SamplesAudio([(0.0, fm["SNG-002"])], index)
    assert notes_in_play(_play(index, "SNG-002", 0.21), aired) is True
    # A play merged from runs that drift (time compression) can be seconds off its alignment.
    assert notes_in_play(replace(_play(index, "SNG-002", 0.21), ref_offset_s=4.5), aired) is True
    # Other music at the same place, and the other catalogue tracks (same composer) against the airing.
    assert notes_in_play(_play(index, "SNG-002", 0.21), SamplesAudio([(0.0, fm["outside"])], index)) is False
    for other in ("SNG-001", "SNG-004", "SNG-006"):
        assert notes_in_play(_play(index, other, 0.21), aired) is False, other


def test_only_middling_plays_without_the_notes_are_dropped(
    index: CatalogueIndex, fm: dict[str, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    audio = SamplesAudio([(0.0, fm["SNG-002"])], index)
    aired = _play(index, "SNG-002", CHECK_BER + 0.01)
    strong_elsewhere = _play(index, "SNG-004", CHECK_BER - 0.01)  # under CHECK_BER: not looked at
    resemblance = _play(index, "SNG-001", CHECK_BER + 0.01)
    unrecorded = _play(index, "SNG-006", CHECK_BER + 0.01, 100.0, 130.0)  # nothing decodable: kept
    plays = [aired, strong_elsewhere, resemblance, unrecorded]
    assert airings(plays, audio) == [aired, strong_elsewhere, unrecorded]
    assert airings(plays, None) == plays  # no audio: the fingerprints alone decide, as before

    # A catalogue file gone since it was indexed: the play stays, and the log says which file.
    gone = replace(index, tracks=index.tracks.assign(file="/nonexistent/catalogue/SNG-001.flac"))
    with caplog.at_level(logging.WARNING, logger="pige_pipeline.airplay.fine_presence"):
        assert airings([resemblance], SamplesAudio([(0.0, fm["SNG-002"])], gone)) == [resemblance]
    assert "/nonexistent/catalogue/SNG-001.flac" in caplog.text


class _Counted(SamplesAudio):
    """`SamplesAudio` that notes every stretch decoded (each an ffmpeg run in `airplay_events`)."""

    def __init__(self, pieces: list[tuple[float, np.ndarray]], index: CatalogueIndex) -> None:
        super().__init__(pieces, index)
        self.recording_runs: list[tuple[float, float]] = []
        self.track_runs: list[tuple[float, float]] = []

    def recording(self, start_s: float, end_s: float) -> np.ndarray | None:
        self.recording_runs.append((start_s, end_s))
        return super().recording(start_s, end_s)

    def track_audio(self, track: int, start_s: float, duration_s: float) -> np.ndarray | None:
        self.track_runs.append((start_s, duration_s))
        return super().track_audio(track, start_s, duration_s)


def test_a_check_decodes_each_source_once_for_a_short_play(
    index: CatalogueIndex, fm: dict[str, np.ndarray]
) -> None:
    """A play of two pieces: one run over the recording; the track's first piece from the index."""
    heard = _Counted([(0.0, fm["SNG-002"])], index)
    assert notes_in_play(_play(index, "SNG-002", 0.21), heard) is True
    assert heard.recording_runs == [(2.0, 38.0)] and heard.track_runs == []
    # Dropped: both pieces looked at; the second lies past the track's first 32.5 s, decoded once.
    dropped = _Counted([(0.0, fm["SNG-002"])], index)
    assert notes_in_play(_play(index, "SNG-001", 0.21), dropped) is False
    assert dropped.recording_runs == [(2.0, 38.0)] and len(dropped.track_runs) == 1


def test_stretches_decode_the_first_piece_alone_then_the_rest_at_once() -> None:
    runs: list[tuple[float, float]] = []

    def decode(start_s: float, end_s: float) -> np.ndarray | None:
        runs.append((start_s, end_s))
        if start_s < 50.0 < end_s:  # a gap in the recording at 50 s
            return None
        # Each sample holds its own time, so that the slices can be checked.
        return np.arange(round(start_s * RATE), round(end_s * RATE)) / RATE

    stretches = _Stretches(decode, last_s=80.0)
    first = stretches.get(0.0, 20.0)
    assert runs == [(0.0, 20.0)] and first is not None and first[0] == 0.0 and len(first) == 20 * RATE
    second = stretches.get(20.0, 40.0)
    # The rest in one run, which crosses the gap: this piece alone, then the next piece alone.
    assert runs[1:] == [(20.0, 80.0), (20.0, 40.0)] and second is not None and second[0] == 20.0
    assert stretches.get(40.0, 60.0) is None
    runs.clear()
    whole = _Stretches(decode, last_s=38.0, at_once=True)
    assert whole.get(2.0, 22.0) is not None and whole.get(22.0, 38.0) is not None
    assert runs == [(2.0, 38.0)]
