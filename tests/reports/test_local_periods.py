"""Reports over each station's own day and month (stations.yaml `timezone`), with UTC as an option.

Synthetic hours around the 2026 clock changes in Europe/Paris: 23:30 UTC on 31 March is 01:30 on
1 April in Paris (summer time since 29 March), and 25 October is a 25-hour day (clocks go back)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pige_pipeline.analytics import connect, rebuild
from pige_pipeline.cli import app
from pige_pipeline.reports import airplay, coverage, daily_log
from pige_pipeline.reports.periods import Period
from pige_pipeline.testing.synthetic_year import (
    ForcedPlay,
    SyntheticData,
    generate,
    settings_for,
    write_hourly,
)

STATION = "radio-a"  # Europe/Paris in the synthetic stations.yaml
LATE_PLAY = ForcedPlay(STATION, "T00003", datetime(2026, 3, 31, 23, 30, tzinfo=UTC), 200.0)


def _root(base: Path, start: datetime, hours: int, forced: list[ForcedPlay]) -> tuple[Path, SyntheticData]:
    root = base / "data"
    data = generate([STATION], start, hours, seed=3, forced_plays=forced, with_fingerprints=False)
    write_hourly(root, data)
    rebuild(settings_for(root))
    return root, data


@pytest.fixture(scope="module")
def spring(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticData]:
    return _root(tmp_path_factory.mktemp("spring"), datetime(2026, 3, 31, 20, tzinfo=UTC), 8, [LATE_PLAY])


@pytest.fixture(scope="module")
def autumn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticData]:
    # 20:00 UTC on 24 October to 02:00 on 26 October: the whole Paris day of 25 October and beyond.
    return _root(tmp_path_factory.mktemp("autumn"), datetime(2026, 10, 24, 20, tzinfo=UTC), 30, [])


def _late_play_in(plays: pd.DataFrame) -> bool:
    return bool((plays["start"] == pd.Timestamp(LATE_PLAY.start)).any())


def test_a_play_at_2330_utc_on_31_march_is_in_paris_1_april(spring: tuple[Path, SyntheticData]) -> None:
    root, _data = spring
    with connect(root) as con:
        april_1, march_31 = Period.day("2026-04-01"), Period.day("2026-03-31")
        assert _late_play_in(daily_log.daily_tables(con, april_1)["plays"])
        assert not _late_play_in(daily_log.daily_tables(con, march_31)["plays"])
        assert _late_play_in(airplay.statement(con, Period.month("2026-04")).plays)
        assert not _late_play_in(airplay.statement(con, Period.month("2026-03")).plays)
        assert airplay.reconcile(con, Period.month("2026-04")).empty
        # UTC stays available: there the play is on 31 March.
        assert _late_play_in(daily_log.daily_tables(con, march_31, utc=True)["plays"])
        assert not _late_play_in(daily_log.daily_tables(con, april_1, utc=True)["plays"])
        assert _late_play_in(airplay.statement(con, Period.month("2026-03"), utc=True).plays)
        assert airplay.reconcile(con, Period.month("2026-03"), utc=True).empty
        summary = daily_log.daily_tables(con, april_1)["summary"].iloc[0]
    assert summary["timezone"] == "Europe/Paris" and summary["day_hours"] == 24
    assert summary["day_start_utc"] == pd.Timestamp("2026-03-31 22:00", tz="UTC")


def test_the_25_hour_day_holds_all_25_hours(autumn: tuple[Path, SyntheticData]) -> None:
    root, data = autumn
    day = Period.day("2026-10-25")
    first, after = pd.Timestamp("2026-10-24 22:00", tz="UTC"), pd.Timestamp("2026-10-25 23:00", tz="UTC")
    with connect(root) as con:
        tables = daily_log.daily_tables(con, day)
        hours = coverage.coverage_tables(con, day)["station_hours"]
        statement = airplay.statement(con, day)
        utc_hours = coverage.coverage_tables(con, day, utc=True)["station_hours"]
    assert list(hours["hour"]) == list(pd.date_range(first, after, freq="h", inclusive="left"))
    assert len(hours) == 25 and len(utc_hours) == 24
    # The local clock shows 02:00 twice: the hour before and the hour after the change.
    assert list(hours["local_time"].dt.hour).count(2) == 2
    truth = data.station_hours[(data.station_hours["hour"] >= first) & (data.station_hours["hour"] < after)]
    assert (hours["status"].to_numpy() == truth.sort_values("hour")["status"].to_numpy()).all()
    expected = data.plays[(data.plays["start"] >= first) & (data.plays["start"] < after)]
    assert sorted(tables["plays"]["start"]) == sorted(expected["start"])
    assert int(statement.by_station["plays"].sum()) == len(expected)
    assert expected["start"].min() < first + pd.Timedelta(hours=1)  # plays in the first hour...
    assert expected["start"].max() >= after - pd.Timedelta(hours=1)  # ...and in the 25th
    assert tables["summary"]["day_hours"].iloc[0] == 25
    assert tables["timeline"]["start"].min() >= first and tables["timeline"]["end"].max() <= after


def test_the_23_hour_day_and_the_cli_utc_flag(spring: tuple[Path, SyntheticData], tmp_path: Path) -> None:
    root, _data = spring
    assert Period.day("2026-03-29").bounds("Europe/Paris") == (
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    )
    runner = CliRunner()
    base = ["--data-root", str(root), "--format", "csv", "--no-clips"]
    local = runner.invoke(app, ["report", "daily", "--date", "2026-04-01", *base])
    assert local.exit_code == 0, local.output
    plays = pd.read_csv(root / "reports" / "daily_log" / "2026-04-01" / "plays.csv")
    assert _late_play_in(plays.assign(start=pd.to_datetime(plays["start"], utc=True)))
    as_utc = runner.invoke(app, ["report", "daily", "--date", "2026-04-01", "--utc", *base])
    assert as_utc.exit_code == 0, as_utc.output
    plays = pd.read_csv(root / "reports" / "daily_log" / "2026-04-01" / "plays.csv")
    assert not _late_play_in(plays.assign(start=pd.to_datetime(plays["start"], utc=True)))
