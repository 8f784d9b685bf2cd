"""Every report writes CSV, Parquet and a self-contained HTML page that renders in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest

from pige_pipeline.analytics import connect, rebuild
from pige_pipeline.reports import airplay, coverage, daily_log, dead_air, stats
from pige_pipeline.reports.periods import Period
from pige_pipeline.store.parquet import asset_hour_path
from pige_pipeline.testing.synthetic_year import SyntheticData, settings_for

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_reports_write_csv_parquet_and_html(synthetic_copy: tuple[Path, SyntheticData]) -> None:
    root, _data = synthetic_copy
    day, month = Period.day("2026-01-31"), Period.month("2026-01")
    with connect(root) as con:
        outputs = [
            airplay.write_statement(root, con, month),
            airplay.write_statement(root, con, day, "radio-b", ("csv",)),
            daily_log.write_daily_log(root, con, day),
            dead_air.write_dead_air(root, con, day),
            coverage.write_coverage(root, con, month),
            stats.write_stats(root, con),
        ]
    for output in outputs:
        assert output.directory.is_relative_to(root / "reports" / output.report)
        for csv in (f for f in output.files if f.suffix == ".csv"):
            parquet = csv.with_suffix(".parquet")
            if parquet.exists():
                assert len(pd.read_csv(csv)) == len(pd.read_parquet(parquet))
        assert output.preview_markdown().startswith("|")
    assert outputs[0].directory == root / "reports" / "airplay" / "monthly" / "2026-01"
    assert [f.name for f in outputs[1].files] == [
        "statement_by_station.csv",
        "statement_by_rights_holder.csv",
        "statement_plays.csv",
    ]
    assert (
        outputs[1].directory == root / "reports" / "airplay" / "daily" / "2026-01-31" / "stations" / "radio-b"
    )
    for output in (outputs[0], outputs[2], outputs[3], outputs[4], outputs[5]):
        html = output.html
        assert html is not None
        text = html.read_text(encoding="utf-8")
        assert "data:image/png;base64," in text and "http://" not in text and "https://" not in text


def test_html_report_renders_in_headless_chromium(
    synthetic_copy: tuple[Path, SyntheticData], tmp_path: Path
) -> None:
    root, _data = synthetic_copy
    with connect(root) as con:
        daily = daily_log.write_daily_log(root, con, Period.day("2026-01-31"))
        statement = airplay.write_statement(root, con, Period.month("2026-01"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, output in (("daily_station_log", daily), ("airplay_statement", statement)):
        assert output.html is not None
        dom = _chromium(["--dump-dom", output.html.as_uri()], tmp_path / f"profile-dom-{name}")
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert "<img" in dom.stdout and "<table" in dom.stdout
        shot = ARTIFACTS / f"{name}.png"
        shot.unlink(missing_ok=True)
        run = _chromium(
            ["--window-size=1280,1600", "--hide-scrollbars", f"--screenshot={shot}", output.html.as_uri()],
            tmp_path / f"profile-shot-{name}",
        )
        assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
        pixels = mpimg.imread(shot)
        assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
        # Not a blank page: charts and tables put many distinct colours on it.
        assert pixels[..., :3].std() > 0.05


def test_dead_air_totals_are_the_stitched_alerts(synthetic: tuple[Path, SyntheticData]) -> None:
    root, data = synthetic
    day = Period.day("2026-01-31")
    with connect(root) as con:
        tables = dead_air.dead_air_tables(con, day, utc=True)
    alerts = data.silences[
        (data.silences["duration_s"] >= 5)
        & (data.silences["start"] >= day.start)
        & (data.silences["start"] < day.end)
    ]
    expected = alerts.groupby("station")["duration_s"].sum()
    totals = tables["totals"].set_index("station")
    for station in ("radio-a", "radio-b"):
        assert totals.loc[station, "off_air_s"] == pytest.approx(expected.get(station, 0.0), abs=0.02)
        assert totals.loc[station, "alerts"] == (alerts["station"] == station).sum()
    assert set(tables["alerts"]["notification_status"]) <= {"sent", "failed", "not_needed"}


def test_coverage_and_backlog(synthetic_copy: tuple[Path, SyntheticData]) -> None:
    root, data = synthetic_copy
    day = Period.day("2026-02-01")
    with connect(root) as con:
        tables = coverage.coverage_tables(con, day, utc=True)
    hours = tables["station_hours"]
    assert len(hours) == 2 * 24
    truth = data.station_hours[
        (data.station_hours["hour"] >= day.start) & (data.station_hours["hour"] < day.end)
    ]
    merged = hours.merge(truth, on=["station", "hour"], suffixes=("", "_truth"))
    assert (merged["status"] == merged["status_truth"]).all()
    short = merged[merged["status"] != "ok"]
    assert len(tables["gaps"]) == len(short)
    # Remove one processed hour of `transcripts`: the statistics report shows it as backlog.
    hour = truth[truth["status"] != "missing"]["hour"].iloc[3].to_pydatetime()
    asset_hour_path(root, "transcripts", "radio-a", hour).unlink()
    rebuild(settings_for(root))
    with connect(root) as con:
        backlog = stats.stats_tables(con, root)["backlog"]
    assert backlog.to_dict("records") == [
        {
            "asset": "transcripts",
            "station": "radio-a",
            "hours_behind": 1,
            "oldest": pd.Timestamp(hour),
            "newest": pd.Timestamp(hour),
        }
    ]
