"""The Dagster assets: a play across an hour boundary is reported once; unknown music gets clusters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pige_pipeline.airplay import FINGERPRINTS_SCHEMA, fingerprint_rows
from pige_pipeline.airplay.events import play_rows, plays_table
from pige_pipeline.airplay.index import load_index
from pige_pipeline.airplay.unknown import UnknownSegment, UnknownStore
from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.defs.airplay.assets import airplay_events, unknown_music
from pige_pipeline.store.parquet import read_asset_hour, read_asset_range, write_asset_hour

from .conftest import RATE, Catalogue, materialize, speech, station_data_root

H = datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.mark.slow  # four Dagster runs and a catalogue index: ~10 s alone, more on shared CI cores
def test_play_across_the_hour_boundary_is_reported_once(small_catalogue: Catalogue, tmp_path: Path) -> None:
    data_root = station_data_root(small_catalogue.dir, tmp_path)
    assert load_index(data_root / "state" / "catalogue").n_tracks == 4
    # SNG-002 starts 20 s before 11:00 and plays 40 s: 20 s in each hour, after talk / before other music.
    track = decode_mono(small_catalogue.tracks["SNG-002"], RATE)
    before = np.concatenate([speech(20), track[: 20 * RATE]])
    after = np.concatenate([track[20 * RATE :], decode_mono(small_catalogue.outside, RATE)])
    write_asset_hour(data_root, "fingerprints", "fm1", H, fingerprint_rows([(3560.0, before)], RATE),
                     FINGERPRINTS_SCHEMA)  # fmt: skip
    write_asset_hour(data_root, "fingerprints", "fm1", H + timedelta(hours=1),
                     fingerprint_rows([(0.0, after)], RATE), FINGERPRINTS_SCHEMA)  # fmt: skip
    # The later hour first: the order the hours run in must not matter.
    for hour in (H + timedelta(hours=1), H):
        result = materialize([airplay_events], data_root, hour)
        assert result.success
    first = read_asset_hour(data_root, "airplay_events", "fm1", H)
    second = read_asset_hour(data_root, "airplay_events", "fm1", H + timedelta(hours=1))
    assert list(first["track_id"]) == ["SNG-002"] and list(second["track_id"]) == ["SNG-002"]
    assert first["end_s"].iat[0] == 3600.0 and bool(first["continues_into_next_hour"].iat[0])
    assert second["start_s"].iat[0] == 0.0 and bool(second["continues_from_previous_hour"].iat[0])
    assert abs(second["ref_offset_s"].iat[0] - 20.0) <= 1.0
    assert first["title"].iat[0] == "Aberrations" and first["isrc"].iat[0].startswith("FRX")
    plays = plays_table(read_asset_range(data_root, "airplay_events", H, H + timedelta(hours=2)))
    assert len(plays) == 1
    play = plays.iloc[0]
    assert play["track_id"] == "SNG-002" and play["parts"] == 2
    assert abs((play["start"] - pd.Timestamp(H + timedelta(seconds=3580))).total_seconds()) <= 1.0
    assert abs(play["duration_s"] - 40.0) <= 1.5
    # The 40 s of music after the play match no track: unknown music, with a cluster.
    for hour in (H, H + timedelta(hours=1)):
        assert materialize([unknown_music], data_root, hour).success
    assert read_asset_hour(data_root, "unknown_music", "fm1", H).empty
    unknown = read_asset_hour(data_root, "unknown_music", "fm1", H + timedelta(hours=1))
    assert len(unknown) == 1 and unknown["cluster_id"].iat[0].startswith("unk-")
    assert 20 <= unknown["start_s"].iat[0] <= 25 and unknown["end_s"].iat[0] >= 55


def test_two_airings_of_one_track_are_two_plays(small_catalogue: Catalogue, tmp_path: Path) -> None:
    """Back-to-back airings of the same track do not stitch: the reference restarts."""
    from pige_pipeline.airplay.catalogue import load_catalogue
    from pige_pipeline.airplay.index import update_index
    from pige_pipeline.airplay.matcher import match_fingerprint_rows

    index = update_index(load_catalogue(small_catalogue.csv), tmp_path / "state", persist=False).index
    track = decode_mono(small_catalogue.tracks["SNG-004"], RATE)
    rows = fingerprint_rows([(100.0, np.concatenate([track, track]))], RATE)
    plays = match_fingerprint_rows(index, rows)
    assert [p.track_id for p in plays] == ["SNG-004", "SNG-004"]
    table = pd.DataFrame(play_rows("fm1", H, plays, index))
    table["station"] = "fm1"
    assert len(plays_table(table)) == 2


def test_repeated_unknown_recording_shares_a_cluster(small_catalogue: Catalogue, tmp_path: Path) -> None:
    store = UnknownStore(tmp_path / "state")
    outside = decode_mono(small_catalogue.outside, RATE)
    other = decode_mono(small_catalogue.tracks["SNG-006"], RATE)

    def segment(samples: np.ndarray) -> UnknownSegment:
        prints = fingerprint_rows([(0.0, samples)], RATE)[0]["fingerprint"]
        return UnknownSegment(0.0, len(samples) / RATE, prints, 0.1)

    with store.locked():
        _, first = store.assign("fm1", H, segment(outside))
        # The same recording on another station, joined 5 s later and shorter.
        _, again = store.assign("fm2", H + timedelta(hours=3), segment(outside[5 * RATE : 35 * RATE]))
        _, different = store.assign("fm1", H + timedelta(hours=5), segment(other))
    assert again == first and different != first
    assert len(store.segments()) == 3
