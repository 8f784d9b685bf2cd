"""A play cut by the hour boundary is one play with its true start and end, whatever the split.

One real 210-s track (singularity-music) between French speech and other music, cut by the boundary
1, 3, 9, 15 and 30 s after its start and 9, 3 and 1 s before its end: one station per split, so
one Dagster run per hour processes every split. Each must come out of the analytics `plays` table
as one play within 1 s of where the same audio, never split, is detected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from pige_pipeline.airplay import FINGERPRINTS_SCHEMA, fingerprint_rows
from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.events import play_rows, plays_table
from pige_pipeline.airplay.index import CatalogueIndex, update_index
from pige_pipeline.airplay.matcher import match_fingerprint_rows, match_hour
from pige_pipeline.analytics import connect, rebuild
from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.defs.airplay.assets import airplay_events
from pige_pipeline.hours import partition_key_for
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.store.parquet import write_asset_hour
from pige_pipeline.testing.sources import singularity_tracks
from pige_pipeline.testing.synthetic_year import settings_for

from .conftest import RATE, excerpt, speech

H = datetime(2026, 3, 1, 10, tzinfo=UTC)
NEXT = H + timedelta(hours=1)
TRACK_S = 210.0
AFTER_START = (1, 3, 9, 15, 30)
BEFORE_END = (9, 3, 1)


@dataclass
class Split:
    station: str
    into_track_s: float  # where in the track the boundary falls
    first: list[dict]  # `fingerprints` rows of H (the track's head at its end)
    second: list[dict]  # `fingerprints` rows of H + 1


@dataclass
class Setup:
    catalogue: Path  # the catalogue directory (catalogue.csv and audio/)
    index: CatalogueIndex
    splits: list[Split]
    # The unsplit detection, as offsets from where the track starts: (start, end).
    unsplit: tuple[float, float]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    root = tmp_path_factory.mktemp("boundary-catalogue")
    (root / "audio").mkdir()
    music = singularity_tracks()
    source = next(p for p in music if p.stem == "Deprecation")
    excerpt(source, 0, TRACK_S, root / "audio" / "T1.flac")
    others = [p for p in music if p != source][:2]
    for i, path in enumerate(others):
        excerpt(path, 20, 40, root / "audio" / f"D{i}.flac")
    rows = [
        {"track_id": "T1", "title": source.stem, "artist": "Singularity", "isrc": "", "path": "audio/T1.flac"}
    ] + [
        {
            "track_id": f"D{i}",
            "title": p.stem,
            "artist": "Singularity",
            "isrc": "",
            "path": f"audio/D{i}.flac",
        }
        for i, p in enumerate(others)
    ]
    pd.DataFrame(rows).to_csv(root / "catalogue.csv", index=False)
    index = update_index(load_catalogue(root / "catalogue.csv"), root / "state", persist=False).index
    track = decode_mono(root / "audio" / "T1.flac", RATE)
    before = speech(50)
    after = decode_mono(music[9], RATE)[30 * RATE : 60 * RATE]  # music outside the catalogue
    whole = np.concatenate([before, track, after])
    found = match_fingerprint_rows(index, fingerprint_rows([(0.0, whole)], RATE))
    assert [p.track_id for p in found] == ["T1"]
    lead_s = len(before) / RATE
    unsplit = (found[0].start_s - lead_s, found[0].end_s - lead_s)
    length_s = len(track) / RATE
    splits = []
    for i, cut_s in enumerate([*AFTER_START, *(length_s - s for s in BEFORE_END)]):
        cut = int(round(cut_s * RATE))
        head = np.concatenate([before, track[:cut]])
        tail = np.concatenate([track[cut:], after])
        first = fingerprint_rows([(3600.0 - len(head) / RATE, head)], RATE)
        second = fingerprint_rows([(0.0, tail)], RATE)
        splits.append(Split(f"b{i}", cut / RATE, first, second))
    return Setup(root, index, splits, unsplit)


def _assert_one_true_play(plays: pd.DataFrame, split: Split, unsplit: tuple[float, float]) -> None:
    assert list(plays["track_id"]) == ["T1"], f"{split.station} (cut {split.into_track_s:.0f} s in): {plays}"
    track_start = pd.Timestamp(NEXT) - pd.Timedelta(seconds=split.into_track_s)
    start = (pd.Timestamp(plays["start"].iat[0]) - track_start).total_seconds()
    end = (pd.Timestamp(plays["end"].iat[0]) - track_start).total_seconds()
    where = f"{split.station} (cut {split.into_track_s:.0f} s in): start {start:+.2f}, end {end:.2f}"
    assert abs(start - unsplit[0]) <= 1.0, where
    assert abs(end - unsplit[1]) <= 1.0, where


def test_each_split_is_one_play_when_the_earlier_hour_runs_first(setup: Setup) -> None:
    """Earlier hour matched before the later one is fingerprinted, then the later one with its margin."""
    for split in setup.splits:
        first = match_hour(setup.index, split.first, None, None)
        second = match_hour(setup.index, split.second, split.first, None)
        rows = play_rows(split.station, H, first, setup.index) + play_rows(
            split.station, NEXT, second, setup.index
        )
        table = pd.DataFrame(rows)
        table["station"] = split.station
        _assert_one_true_play(plays_table(table), split, setup.unsplit)


def _materialize(data_root: Path, hour: datetime) -> None:
    result = dg.materialize(
        [airplay_events],
        partition_key=partition_key_for(hour),
        resources=pige_resources(PigeResource(data_root=str(data_root))),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success


def _analytics_plays(data_root: Path) -> pd.DataFrame:
    rebuild(settings_for(data_root))
    with connect(data_root) as con:
        return con.execute(
            'SELECT station, track_id, start, "end" FROM plays ORDER BY station, start'
        ).fetchdf()


@pytest.mark.slow  # three Dagster runs and two analytics rebuilds: ~25 s on shared CI cores
def test_each_split_is_one_play_in_analytics_when_the_later_hour_runs_first(
    setup: Setup, tmp_path: Path
) -> None:
    data_root = tmp_path / "data"
    stations = [
        {"id": s.station, "name": s.station, "stream_url": "http://127.0.0.1:8000/x"} for s in setup.splits
    ]
    data_root.mkdir()
    (data_root / "stations.yaml").write_text(yaml.safe_dump({"stations": stations}))
    (data_root / "catalogue").symlink_to(setup.catalogue)
    update_index(load_catalogue(data_root / "catalogue" / "catalogue.csv"), data_root / "state" / "catalogue")
    # The later hour is matched before the earlier one is even fingerprinted; then the earlier one.
    for split in setup.splits:
        write_asset_hour(data_root, "fingerprints", split.station, NEXT, split.second, FINGERPRINTS_SCHEMA)
    _materialize(data_root, NEXT)
    for split in setup.splits:
        write_asset_hour(data_root, "fingerprints", split.station, H, split.first, FINGERPRINTS_SCHEMA)
    _materialize(data_root, H)
    plays = _analytics_plays(data_root)
    for split in setup.splits:
        _assert_one_true_play(plays[plays["station"] == split.station], split, setup.unsplit)
    # The later hour re-processed alone, now with the earlier hour's margin: still one play each.
    _materialize(data_root, NEXT)
    plays = _analytics_plays(data_root)
    for split in setup.splits:
        _assert_one_true_play(plays[plays["station"] == split.station], split, setup.unsplit)
