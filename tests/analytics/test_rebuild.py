"""The analytics database: views over every asset, stitched tables, incremental compaction, bad input."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from pige_pipeline.analytics import AnalyticsNotBuiltError, build_info, connect, rebuild
from pige_pipeline.analytics.compaction import compacted_day_path
from pige_pipeline.analytics.schemas import ASSET_SCHEMAS
from pige_pipeline.store.gaps import gap_log_path
from pige_pipeline.store.parquet import asset_hour_path, read_asset_hour, write_asset_hour
from pige_pipeline.testing.synthetic_year import SyntheticData, settings_for


def test_every_asset_is_a_view_with_all_its_rows(synthetic: tuple[Path, SyntheticData]) -> None:
    root, data = synthetic
    with connect(root) as con:
        for asset, frame in data.tables.items():
            count = con.execute(f"SELECT count(*) FROM {asset}").fetchone()[0]
            if asset == "audio_chunks":
                assert count == len(frame)
            else:  # hours that were never recorded have no file, so no rows
                recorded = data.station_hours[data.station_hours["status"] != "missing"]
                expected = frame.merge(recorded[["station", "hour"]], on=["station", "hour"])
                assert count == len(expected), asset
            columns = {r[0] for r in con.execute(f"DESCRIBE {asset}").fetchall()}
            assert {f.name for f in ASSET_SCHEMAS[asset]} <= columns
        assert build_info(con)["rights_holder_columns"] == ["publisher", "label", "composer"]
        assert con.execute("SELECT count(*) FROM problems").fetchone()[0] == 0


def test_stitched_tables_match_the_whole_events(synthetic: tuple[Path, SyntheticData]) -> None:
    root, data = synthetic
    with connect(root) as con:
        plays = con.execute('SELECT station, track_id, start, "end", seconds FROM plays').fetchdf()
        silences = con.execute('SELECT station, start, "end", duration_s FROM silence_events').fetchdf()
    assert len(plays) == len(data.plays)
    merged = data.plays.merge(plays, on=["station", "track_id", "start"], suffixes=("", "_db"))
    assert len(merged) == len(data.plays)
    assert (merged["end"] == merged["end_db"]).all()
    assert (merged["duration_s"] - merged["seconds"]).abs().max() < 1e-6
    assert sorted(silences["start"]) == sorted(data.silences["start"])
    # The forced plays across midnight and the month end are one play each, in two pieces.
    with connect(root) as con:
        crossing = con.execute(
            "SELECT station, track_id, segments, day FROM plays "
            "WHERE (station, track_id) IN (('radio-a', 'T00001'), ('radio-b', 'T00002')) AND segments = 2 "
            'AND (CAST("end" AS DATE) > day)'
        ).fetchall()
    assert len(crossing) == 2


def test_empty_typed_views_before_any_asset_landed(data_root: Path) -> None:
    rebuild(settings_for(data_root))
    with connect(data_root) as con:
        for asset, schema in ASSET_SCHEMAS.items():
            assert con.execute(f"SELECT count(*) FROM {asset}").fetchone()[0] == 0
            assert [r[0] for r in con.execute(f"DESCRIBE {asset}").fetchall()] == [f.name for f in schema]
        assert con.execute("SELECT count(*) FROM plays").fetchone()[0] == 0
        problems = [r[0] for r in con.execute("SELECT problem FROM problems").fetchall()]
    assert any("stations.yaml" in p and "not found" in p for p in problems)


def test_connect_before_the_first_build_says_what_to_do(data_root: Path) -> None:
    with pytest.raises(AnalyticsNotBuiltError, match="pige analytics rebuild"):
        connect(data_root)


def test_compaction_is_incremental(synthetic_copy: tuple[Path, SyntheticData]) -> None:
    root, _data = synthetic_copy
    settings = settings_for(root)
    unchanged = rebuild(settings)
    # Every step of the rebuild is timed, and the steps account for the whole of it.
    assert list(unchanged.phases) == [
        "lock",
        "compaction",
        "copy previous database",
        "views, stations, catalogue, gaps",
        "plays",
        "silence_events",
        "dead_air_events",
        "problems, counts, checkpoint",
        "swap",
    ]
    assert abs(sum(unchanged.phases.values()) - unchanged.seconds) < 0.05
    assert all(c.days_rewritten == 0 and c.files_read == 0 for c in unchanged.compaction)
    hour = datetime(2026, 1, 31, 10, tzinfo=UTC)
    rows = read_asset_hour(root, "airplay_events", "radio-a", hour)
    assert rows is not None and len(rows) > 2
    write_asset_hour(root, "airplay_events", "radio-a", hour, rows.iloc[:2], ASSET_SCHEMAS["airplay_events"])
    changed = rebuild(settings)
    by_asset = {c.asset: c for c in changed.compaction}
    assert by_asset["airplay_events"].days_rewritten == 1
    assert by_asset["airplay_events"].files_read == 48  # one day, two stations, 24 hours
    assert sum(c.days_rewritten for c in changed.compaction) == 1
    with connect(root) as con:
        got = con.execute(
            "SELECT count(*) FROM airplay_events WHERE station = 'radio-a' AND hour = ?", [hour]
        ).fetchone()[0]
    assert got == 2
    # A deleted day disappears from the compacted tree too.
    day_dir = asset_hour_path(root, "mentions", "radio-b", hour).parent
    for path in day_dir.iterdir():
        path.unlink()
    day_dir.rmdir()
    for station_dir in [asset_hour_path(root, "mentions", "radio-a", hour).parent]:
        for path in station_dir.iterdir():
            path.unlink()
        station_dir.rmdir()
    rebuild(settings)
    assert not compacted_day_path(root, "mentions", hour.date()).exists()


def test_bad_input_is_named_and_the_rest_carries_on(synthetic_copy: tuple[Path, SyntheticData]) -> None:
    root, data = synthetic_copy
    hour = datetime(2026, 1, 31, 5, tzinfo=UTC)
    corrupt = asset_hour_path(root, "silences", "radio-b", hour)
    # Published by a rename, as every pige writer does (an in-place edit needs `rebuild(full=True)`).
    scratch = corrupt.with_name(".scratch")
    scratch.write_bytes(b"not parquet at all")
    os.replace(scratch, corrupt)
    rows = read_asset_hour(root, "airplay_events", "radio-a", hour)
    assert rows is not None
    bad = rows.copy()
    # A whole play inside the hour, so rejecting its only piece removes exactly one play.
    i = bad.index[~bad["continues_from_previous_hour"] & ~bad["continues_into_next_hour"]][0]
    bad.loc[i, "end"] = bad.loc[i, "start"] - pd.Timedelta(seconds=5)
    write_asset_hour(root, "airplay_events", "radio-a", hour, bad, ASSET_SCHEMAS["airplay_events"])
    with open(gap_log_path(root, "radio-a", hour), "a", encoding="utf-8") as handle:
        handle.write("{broken json\n")
    result = rebuild(settings_for(root))
    text = "\n".join(p["problem"] for p in result.problems)
    assert str(corrupt) in text and "re-run" in text
    assert f"row {bad.loc[i, 'play_id']}" in text and "end is before start" in text
    assert f"{gap_log_path(root, 'radio-a', hour)}:" in text
    with connect(root) as con:
        assert con.execute("SELECT count(*) FROM plays").fetchone()[0] == len(data.plays) - 1
        # The other hours of the corrupt file's day are still there.
        assert con.execute("SELECT count(*) FROM silences").fetchone()[0] > 0


def test_views_use_absolute_paths(synthetic: tuple[Path, SyntheticData], tmp_path: Path) -> None:
    root, _data = synthetic
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        with connect(root) as con:
            assert con.execute("SELECT count(*) FROM airplay_events").fetchone()[0] > 0
    finally:
        os.chdir(here)


def test_play_segments_names_the_play_of_every_piece(synthetic: tuple[Path, SyntheticData]) -> None:
    root, _data = synthetic
    with connect(root) as con:
        pieces = con.execute("SELECT count(*) FROM airplay_events").fetchone()[0]
        assert con.execute("SELECT count(*) FROM play_segments").fetchone()[0] == pieces
        # Every piece points at a play, and the pieces of each play add up to it.
        mismatched = con.execute(
            """
            SELECT count(*) FROM plays p FULL JOIN (
                SELECT play_id, count(*) AS n, sum(duration_s) AS seconds, min(start) AS start
                FROM play_segments GROUP BY play_id
            ) s USING (play_id)
            WHERE s.n IS DISTINCT FROM p.segments OR abs(s.seconds - p.seconds) > 1e-9
               OR s.start IS DISTINCT FROM p.start
            """
        ).fetchone()[0]
        assert mismatched == 0
        # A play in two pieces: the second piece keeps its own id and names the play's.
        crossing = con.execute(
            "SELECT segment_play_id = play_id FROM play_segments "
            "WHERE station = 'radio-a' AND track_id = 'T00001' AND start >= '2026-01-30 23:58:00+00' "
            "AND start < '2026-01-31 00:03:00+00' ORDER BY start"
        ).fetchall()
        assert crossing == [(True,), (False,)]
        assert build_info(con)["views"]["play_segments"] == "derived"


def test_replay_across_an_hour_boundary_is_two_plays(synthetic_copy: tuple[Path, SyntheticData]) -> None:
    root, data = synthetic_copy
    schema = ASSET_SCHEMAS["airplay_events"]
    before, after = datetime(2026, 1, 31, 14, tzinfo=UTC), datetime(2026, 1, 31, 15, tzinfo=UTC)
    rows_before = read_asset_hour(root, "airplay_events", "radio-b", before)
    rows_after = read_asset_hour(root, "airplay_events", "radio-b", after)
    assert rows_before is not None and rows_after is not None
    template = rows_before.iloc[0].to_dict()

    def piece(hour: datetime, start_s: float, end_s: float, ref: float, play_id: str) -> dict[str, object]:
        start, end = hour + pd.Timedelta(seconds=start_s), hour + pd.Timedelta(seconds=end_s)
        return template | {
            "play_id": play_id,
            "track_id": "T09999",
            "start": start,
            "end": end,
            "start_s": start_s,
            "end_s": end_s,
            "ref_offset_s": ref,
            "duration_s": end_s - start_s,
        }

    # The track ends at 14:59:59.5 (a minute from its reference's 120 s) and is played again from the top
    # at 15:00:00: the pieces touch, but the second does not continue the first in the reference.
    first = piece(before, 3540.0, 3599.5, 120.0, "replay-1")
    second = piece(after, 0.0, 200.0, 0.0, "replay-2")
    # An aligned continuation of the replay one second later is the same play.
    third = piece(after, 200.5, 260.0, 200.5, "replay-3")
    write_asset_hour(
        root, "airplay_events", "radio-b", before, pd.concat([rows_before, pd.DataFrame([first])]), schema
    )
    write_asset_hour(
        root,
        "airplay_events",
        "radio-b",
        after,
        pd.concat([rows_after, pd.DataFrame([second, third])]),
        schema,
    )
    rebuild(settings_for(root))
    with connect(root) as con:
        plays = con.execute(
            "SELECT play_id, segments, seconds FROM plays WHERE track_id = 'T09999' ORDER BY start"
        ).fetchall()
        links = con.execute(
            "SELECT segment_play_id, play_id FROM play_segments WHERE track_id = 'T09999' ORDER BY start"
        ).fetchall()
        assert con.execute("SELECT count(*) FROM plays").fetchone()[0] == len(data.plays) + 2
    assert plays == [("replay-1", 1, 59.5), ("replay-2", 2, 259.5)]
    assert links == [("replay-1", "replay-1"), ("replay-2", "replay-2"), ("replay-3", "replay-2")]


def test_a_dead_air_event_mailed_by_its_later_part_reads_sent(
    synthetic_copy: tuple[Path, SyntheticData],
) -> None:
    # An hour judges the first seconds of a silence a natural pause (not mailed); the next part is mailed.
    root, _data = synthetic_copy
    found = None
    for path in sorted((root / "parquet" / "dead_air_alerts").rglob("*.parquet")):
        frame = pd.read_parquet(path)
        if len(frame) and (frame["duration_s"] > 10).any():
            found = frame
            break
    assert found is not None, "the synthetic data has dead air"
    row = found[found["duration_s"] > 10].iloc[0]
    station, hour = row["station"], row["hour"].to_pydatetime()
    middle = (row["start"] + pd.Timedelta(seconds=row["duration_s"] / 2)).floor("ms")
    first, second = row.copy(), row.copy()
    first["end"], first["duration_s"] = middle, (middle - row["start"]).total_seconds()
    first["classification"], first["notified_at"] = "natural", pd.NaT
    first["notification_status"] = "not_sent (natural)"
    second["start"], second["duration_s"] = middle, (row["end"] - middle).total_seconds()
    second["classification"], second["notified_at"] = "suspect", row["start"] + pd.Timedelta(seconds=30)
    second["notification_status"] = "sent"
    rows = read_asset_hour(root, "dead_air_alerts", station, hour)
    assert rows is not None
    rows = pd.concat([rows[rows["alert_id"] != row["alert_id"]], pd.DataFrame([first, second])])
    write_asset_hour(root, "dead_air_alerts", station, hour, rows, ASSET_SCHEMAS["dead_air_alerts"])
    rebuild(settings_for(root), full=True)
    with connect(root) as con:
        event = con.execute(
            "SELECT classification, notification_status, notified_at, segments FROM dead_air_events "
            "WHERE alert_ids LIKE '%' || ? || '%'",
            [row["alert_id"]],
        ).fetchone()
    assert event is not None and event[3] == 2
    assert event[0] == "suspect" and event[1] == "sent" and event[2] is not None


def test_plays_and_dead_air_are_stored_in_station_then_start_order(
    synthetic: tuple[Path, SyntheticData],
) -> None:
    """The API reads one station's time range: stored in that order, DuckDB's zone maps skip the rest."""
    root, _ = synthetic
    with connect(root) as con:
        for table, key in (("plays", "play_id"), ("dead_air_events", "alert_id")):
            stored = con.execute(f"SELECT station, start, {key} FROM {table} ORDER BY rowid").fetchall()
            assert stored, table
            assert stored == sorted(stored, key=lambda r: (r[0], r[1], r[2] is None, r[2] or "")), table
