"""The airplay statement reconciles with airplay_events; a play across midnight or a month end counts
once, in the period where it started: the station's own (Europe/Paris in the synthetic data) or UTC."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pige_pipeline.analytics import connect, rebuild
from pige_pipeline.reports import airplay
from pige_pipeline.reports.periods import Period
from pige_pipeline.testing.synthetic_year import SyntheticData, settings_for

DAYS = ["2026-01-30", "2026-01-31", "2026-02-01", "2026-02-02"]
MONTHS = ["2026-01", "2026-02"]


def _truth(data: SyntheticData, period: Period, zone: str = "UTC") -> pd.DataFrame:
    start, end = period.bounds(zone)
    plays = data.plays[(data.plays["start"] >= start) & (data.plays["start"] < end)]
    return plays.groupby(["station", "track_id"]).agg(plays=("start", "count"), seconds=("duration_s", "sum"))


@pytest.mark.parametrize("utc", [False, True], ids=["station_time", "utc"])
def test_statement_equals_the_whole_plays_of_each_period(
    synthetic: tuple[Path, SyntheticData], utc: bool
) -> None:
    root, data = synthetic
    zone = "UTC" if utc else "Europe/Paris"  # the synthetic stations' timezone
    with connect(root) as con:
        for label in DAYS + MONTHS:
            period = Period.day(label) if len(label) == 10 else Period.month(label)
            got = airplay.statement(con, period, utc=utc).by_station.set_index(["station", "track_id"])
            truth = _truth(data, period, zone)
            assert sorted(got.index) == sorted(truth.index), label
            joined = truth.join(got, rsuffix="_got")
            assert (joined["plays"] == joined["plays_got"]).all(), label
            assert (joined["seconds"] - joined["seconds_got"]).abs().max() < 0.001, label
            assert airplay.reconcile(con, period, utc=utc).empty, label


def test_plays_across_midnight_and_month_end_count_once_where_they_started(
    synthetic: tuple[Path, SyntheticData],
) -> None:
    root, data = synthetic
    with connect(root) as con:

        def plays_of(label: str, station: str, track: str) -> tuple[int, float]:
            period = Period.day(label) if len(label) == 10 else Period.month(label)
            frame = airplay.statement(con, period, station, utc=True).by_station
            row = frame[frame["track_id"] == track]
            return (int(row["plays"].sum()), float(row["seconds"].sum()))

        def truth_of(label: str, station: str, track: str) -> tuple[int, float]:
            period = Period.day(label) if len(label) == 10 else Period.month(label)
            t = _truth(data, period)
            if (station, track) not in t.index:
                return (0, 0.0)
            row = t.loc[(station, track)]
            return (int(row["plays"]), round(float(row["seconds"]), 3))

        # radio-a's T00001 starts at 23:58 on 30 January and ends on the 31st.
        forced_a = (300.0, "2026-01-30", "2026-01-31")
        # radio-b's T00002 starts at 23:57:30 on 31 January and ends in February.
        forced_b = (400.0, "2026-01", "2026-02")
        for station, track, (seconds, started, next_period) in (
            ("radio-a", "T00001", forced_a),
            ("radio-b", "T00002", forced_b),
        ):
            assert plays_of(started, station, track) == truth_of(started, station, track)
            assert truth_of(started, station, track)[0] >= 1
            assert plays_of(next_period, station, track) == truth_of(next_period, station, track)
            total = sum(plays_of(p, station, track)[1] for p in DAYS)
            events = con.execute(
                "SELECT sum(duration_s) FROM airplay_events WHERE station = ? AND track_id = ?",
                [station, track],
            ).fetchone()[0]
            assert abs(total - events) < 0.001
            whole = con.execute(
                "SELECT seconds, segments FROM plays WHERE station = ? AND track_id = ? AND segments = 2 "
                "AND abs(seconds - ?) < 0.001",
                [station, track, seconds],
            ).fetchall()
            assert len(whole) == 1


def test_all_periods_together_equal_airplay_events_per_track(synthetic: tuple[Path, SyntheticData]) -> None:
    root, _data = synthetic
    with connect(root) as con:
        events = con.execute(
            "SELECT station, track_id, sum(duration_s) AS seconds, "
            "count(*) FILTER (WHERE NOT continues_from_previous_hour) AS plays "
            "FROM airplay_events GROUP BY ALL"
        ).fetchdf()
        statements = pd.concat([airplay.statement(con, Period.month(m), utc=True).by_station for m in MONTHS])
    summed = statements.groupby(["station", "track_id"])[["plays", "seconds"]].sum()
    joined = events.set_index(["station", "track_id"]).join(summed, rsuffix="_statement", how="outer")
    assert (joined["plays"] == joined["plays_statement"]).all()
    assert (joined["seconds"] - joined["seconds_statement"]).abs().max() < 0.01


def test_rights_holders_and_the_artist_fallback(synthetic_copy: tuple[Path, SyntheticData]) -> None:
    root, _data = synthetic_copy
    period = Period.month("2026-01")
    with connect(root) as con:
        st = airplay.statement(con, period)
        total = st.by_station["plays"].sum()
    assert st.notes == []
    for role in ("publisher", "label", "composer"):
        assert st.by_rights_holder.loc[st.by_rights_holder["role"] == role, "plays"].sum() == total
    catalogue = root / "catalogue" / "catalogue.csv"
    frame = pd.read_csv(catalogue)
    frame.drop(columns=["label", "composer", "publisher"]).to_csv(catalogue, index=False)
    rebuild(settings_for(root))
    with connect(root) as con:
        st = airplay.statement(con, period)
    assert st.notes == [airplay.NO_RIGHTS_NOTE]
    assert set(st.by_rights_holder["role"]) == {"artist"}
    assert st.by_rights_holder["plays"].sum() == total
