"""The README's demo, end to end: `pige demo --no-ui` as a user runs it, then what it left behind.

The real console script runs in a subprocess with a throwaway PIGE_DATA_ROOT and DAGSTER_HOME and
no other pige setting (tests/demo/support.py): it builds the one-hour programme from real music and
speech, imports it as the last full UTC hour of `demo-fm`, fingerprints the catalogue, runs
`process_hour` (Whisper included), rebuilds analytics.duckdb and writes the reports. `--no-ui`
stops there, so neither the Dagster UI nor Icecast (`--live` only matters with the UI) is started.

Duration: 124-146 s measured on the shared 2-core machine (the programme build, the catalogue
fingerprints, the hour with ~9.5 minutes of speech for Whisper base, analytics and the reports),
well inside a 6-minute budget, so the test runs the full hour, the same programme and code path as
the README: no shortened demo was needed. It is one run per session, shared with the notebook tests
(tests/reports/test_notebooks.py), and marked slow, which CI runs (`.ci/test` selects no markers).

Outcomes are checked against the programme's truth file (`data/demo/programme.json`): every
catalogue track it contains is found, and every stretch of dead air put in it raises an alert.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from pige_pipeline.analytics import build_info, connect
from pige_pipeline.demo.run import demo_report_day_and_month
from pige_pipeline.stations import load_stations
from pige_pipeline.store.parquet import asset_hour_path, read_asset_hour
from tests.demo.support import DEMO_STATION, DemoRun

pytestmark = pytest.mark.slow

# Every hourly asset process_hour writes for the demo station (README, "What it computes").
HOURLY_ASSETS = (
    "audio_chunks",
    "silences",
    "dead_air_alerts",
    "fingerprints",
    "airplay_events",
    "unknown_music",
    "speech_segments",
    "transcripts",
    "summaries",
    "mentions",
)
DEAD_AIR_KINDS = {"silence": "digital_silence", "noise_floor": "noise_floor", "hum": "hum"}


@pytest.fixture(scope="module")
def instance(demo_run: DemoRun) -> Iterator[dg.DagsterInstance]:
    """The Dagster instance the demo recorded its runs in (the throwaway DAGSTER_HOME)."""
    with dg.DagsterInstance.from_config(str(demo_run.dagster_home)) as inst:
        yield inst


def _asset(demo_run: DemoRun, name: str) -> pd.DataFrame:
    frame = read_asset_hour(demo_run.root, name, DEMO_STATION, demo_run.hour)
    assert frame is not None, f"{name}: no Parquet for {DEMO_STATION} at {demo_run.partition_key}"
    return frame


def _blocks(demo_run: DemoRun, *kinds: str) -> list[dict[str, Any]]:
    return [b for b in demo_run.programme["blocks"] if b["kind"] in kinds]


def _overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def _process_hour_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="process_hour"))
    assert len(runs) == 1, [r.run_id for r in runs]
    return runs[0]


def test_demo_says_every_step_worked(demo_run: DemoRun) -> None:
    out = demo_run.stdout
    for line in (
        "demo: fingerprinting the catalogue",
        f"demo: processing hour {demo_run.partition_key} (process_hour job, multiprocess executor)",
        "demo: process_hour succeeded",
        "demo: rebuilding analytics.duckdb (analytics asset)",
        "reconciled with airplay_events",
    ):
        assert line in out, f"{line!r} missing from:\n{out[-4000:]}"
    said = [line for line in out.splitlines() + demo_run.stderr.splitlines() if line.startswith("demo:")]
    assert not [line for line in said if "fail" in line.lower()], said


def test_dagster_recorded_the_runs_and_the_checks(demo_run: DemoRun, instance: dg.DagsterInstance) -> None:
    run = _process_hour_run(instance)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition"] == demo_run.partition_key
    for job in ("demo_catalogue", "demo_analytics"):
        assert [r.status for r in instance.get_runs(filters=dg.RunsFilter(job_name=job))] == [
            dg.DagsterRunStatus.SUCCESS
        ], job
    checks = {}
    for record in instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        checks[evaluation.asset_key.to_user_string()] = evaluation
    assert set(HOURLY_ASSETS) <= set(checks), sorted(checks)
    # With no mail server or webhook configured (a fresh machine), the suspect dead air cannot be
    # delivered: the dead-air check says so, by design. Every other station-hour check passes.
    failed = {asset: e.description for asset, e in checks.items() if not e.passed}
    assert set(failed) == {"dead_air_alerts"}, failed
    assert "not delivered yet" in failed["dead_air_alerts"]


def test_every_hourly_asset_was_written(demo_run: DemoRun, instance: dg.DagsterInstance) -> None:
    for name in HOURLY_ASSETS:
        path = asset_hour_path(demo_run.root, name, DEMO_STATION, demo_run.hour)
        assert path.is_relative_to(demo_run.root / "parquet" / name / DEMO_STATION), path
        frame = _asset(demo_run, name)
        assert len(frame), f"{name} is empty"
        assert set(frame["station"]) == {DEMO_STATION}
        assert set(frame["hour"]) == {pd.Timestamp(demo_run.hour)}
        materialized = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(name), asset_partitions=[demo_run.partition_key]),
            limit=1,
        )
        assert materialized.records, f"{name} has no materialization for {demo_run.partition_key}"
    chunks = _asset(demo_run, "audio_chunks").iloc[0]
    assert chunks["status"] == "ok" and chunks["coverage"] == 1.0 and chunks["gap_s"] == 0
    assert chunks["duration_s"] == pytest.approx(demo_run.programme["duration_s"], abs=1)
    assert chunks["codec"] == "mp3"


def test_airplay_finds_every_catalogue_track_of_the_programme(demo_run: DemoRun) -> None:
    plays = _asset(demo_run, "airplay_events").sort_values("start_s").reset_index(drop=True)
    aired = [b for b in _blocks(demo_run, "music") if b["track_id"]]
    assert sorted(plays["track_id"]) == sorted(b["track_id"] for b in aired), plays[["track_id", "start_s"]]
    for block in aired:
        audible = block["end_s"] - block["start_s"] - block["talk_over_s"]  # under the voice it may hide
        same = plays[plays["track_id"] == block["track_id"]]
        best = max(_overlap(p.start_s, p.end_s, block["start_s"], block["end_s"]) for p in same.itertuples())
        assert best >= 0.9 * audible, (block, same[["start_s", "end_s"]])
    # Out-of-catalogue music and speech are not reported as plays: each play lies on its track's block.
    for play in plays.itertuples():
        on_track = [b for b in aired if b["track_id"] == play.track_id]
        assert any(_overlap(play.start_s, play.end_s, b["start_s"], b["end_s"]) > 0 for b in on_track)
    # The last track runs past the end of the hour.
    assert plays.iloc[-1]["continues_into_next_hour"] and plays.iloc[-1]["end_s"] == 3600
    assert plays["score"].between(0, 1).all() and plays["confidence"].between(0, 1).all()
    # Titles and ISRCs come from the catalogue the demo wrote.
    catalogue = pd.read_csv(demo_run.root / "catalogue" / "catalogue.csv").set_index("track_id")
    for play in plays.itertuples():
        assert (play.title, play.isrc) == tuple(catalogue.loc[play.track_id, ["title", "isrc"]])


def test_out_of_catalogue_music_is_unknown_music(demo_run: DemoRun) -> None:
    unknown = _asset(demo_run, "unknown_music")
    outside = [b for b in _blocks(demo_run, "music") if not b["track_id"]]
    assert outside
    for block in outside:
        assert any(
            _overlap(u.start_s, u.end_s, block["start_s"], block["end_s"])
            >= 0.5 * (block["end_s"] - block["start_s"])
            for u in unknown.itertuples()
        ), (block, unknown[["start_s", "end_s", "music_score"]])
    # Nothing else: no segment lies mostly in speech (the 30-s window may reach ~15 s past a block).
    speech = _blocks(demo_run, "speech")
    for u in unknown.itertuples():
        in_speech = sum(_overlap(u.start_s, u.end_s, b["start_s"], b["end_s"]) for b in speech)
        assert in_speech <= 0.5 * (u.end_s - u.start_s), (u, unknown[["start_s", "end_s"]])


def test_every_dead_air_of_the_programme_raises_an_alert(demo_run: DemoRun) -> None:
    silences = _asset(demo_run, "silences")
    alerts = _asset(demo_run, "dead_air_alerts")
    station = load_stations(demo_run.root / "stations.yaml").stations[0]
    thresholds = station.silence
    dead_air = _blocks(demo_run, *DEAD_AIR_KINDS)
    assert len(dead_air) == 5
    assert all(b["end_s"] - b["start_s"] >= thresholds.alert_seconds for b in dead_air)
    for block in dead_air:
        length = block["end_s"] - block["start_s"]
        found = [
            s
            for s in silences.itertuples()
            if _overlap(s.start_s, s.end_s, block["start_s"], block["end_s"]) >= 0.9 * length
        ]
        assert [s.kind for s in found] == [DEAD_AIR_KINDS[block["kind"]]], (block, silences)
        alert = [
            a
            for a in alerts.itertuples()
            if _overlap(a.start_s, a.end_s, block["start_s"], block["end_s"]) > 0
        ]
        assert len(alert) == 1, (block, alerts[["start_s", "end_s"]])
        severity = "warning" if length >= thresholds.warning_seconds else "info"
        assert alert[0].severity == severity, (block, alert[0])
    assert len(alerts) == len(dead_air), "no dead air is reported where the programme had none"
    assert (
        set(alerts["classification"]) <= {"natural", "suspect"}
        and alerts["explanation"].str.len().gt(0).all()
    )
    # No channel is configured on a fresh machine: suspect alerts wait, natural ones are not sent.
    for alert in alerts.itertuples():
        expected = "pending" if alert.classification == "suspect" else "not_sent"
        assert alert.notification_status.startswith(expected), alert


def test_speech_is_transcribed_summarised_and_searched(demo_run: DemoRun) -> None:
    transcripts = _asset(demo_run, "transcripts")
    kept = transcripts[~transcripts["dropped"]]
    speech = _blocks(demo_run, "speech")
    spoken = [(b["start_s"], b["end_s"]) for b in speech] + [
        (b["start_s"], b["start_s"] + b["talk_over_s"])
        for b in demo_run.programme["blocks"]
        if b["talk_over_s"]
    ]
    assert set(kept["language"]) == {"fr"} and kept["text"].str.strip().str.len().gt(0).all()
    for block in speech:  # every spoken block is transcribed ...
        assert any(
            _overlap(t.start_s, t.end_s, block["start_s"], block["end_s"]) > 0 for t in kept.itertuples()
        ), block
    for t in kept.itertuples():  # ... and nothing else (music, dead air) is
        middle = (t.start_s + t.end_s) / 2
        assert any(a - 1 <= middle <= b + 1 for a, b in spoken), (t.start_s, t.end_s, t.text)
    summary = _asset(demo_run, "summaries").iloc[0]
    assert (summary["status"], summary["engine"]) == ("ok", "offline"), "no OLLAMA_HOST: summarised offline"
    assert summary["summary"].strip() and len(summary["keywords"]) > 0
    mentions = _asset(demo_run, "mentions")
    watch_terms = set(load_stations(demo_run.root / "stations.yaml").stations[0].speech.watch_terms)
    assert set(mentions["term"]) == watch_terms, mentions
    assert all(m.term in m.text.lower() for m in mentions.itertuples())
    kinds = set(_asset(demo_run, "speech_segments")["kind"])
    assert {"speech", "music", "silence"} <= kinds


def test_analytics_database_answers(demo_run: DemoRun) -> None:
    path = demo_run.root / "analytics" / "analytics.duckdb"
    assert path.is_file()
    plays = _asset(demo_run, "airplay_events")
    alerts = _asset(demo_run, "dead_air_alerts")
    con = connect(demo_run.root)
    try:
        info = build_info(con)
        assert info["data_root"] == str(demo_run.root) and info["problems"] == 0
        per_track = con.execute(
            "SELECT track_id, count(*) AS plays, sum(seconds) AS seconds FROM plays "
            "WHERE station = ? GROUP BY track_id ORDER BY track_id",
            [DEMO_STATION],
        ).df()
        (dead_air,) = con.execute("SELECT count(*) FROM dead_air_events").fetchone()
        processed = {a for (a,) in con.execute("SELECT DISTINCT asset FROM processed_hours").fetchall()}
    finally:
        con.close()
    # A play lasts its rows plus what its whole extent (play_start/play_end, the neighbouring hours'
    # margins included) adds beyond them; durations are stored to the millisecond, extents to the µs.
    extent_start = plays[["start", "play_start"]].min(axis=1)
    extent_end = plays[["end", "play_end"]].max(axis=1)
    plays["seconds"] = (
        plays["duration_s"]
        + (plays["start"] - extent_start).dt.total_seconds()
        + (extent_end - plays["end"]).dt.total_seconds()
    )
    expected = plays.groupby("track_id").agg(plays=("play_id", "count"), seconds=("seconds", "sum"))
    assert per_track.set_index("track_id")["plays"].to_dict() == expected["plays"].to_dict()
    assert per_track.set_index("track_id")["seconds"].to_dict() == pytest.approx(
        expected["seconds"].to_dict(), abs=0.01
    )
    assert dead_air == len(alerts)
    assert set(HOURLY_ASSETS) - {"fingerprints"} <= processed, processed


def test_reports_are_written_as_csv_parquet_and_html(demo_run: DemoRun) -> None:
    day, month = demo_report_day_and_month(demo_run.hour)  # the station's own day (Europe/Paris)
    reports = demo_run.root / "reports"
    expected = {
        reports / "daily_log" / day: ("plays", "timeline", "dead_air", "coverage", "gaps", "summary"),
        reports / "airplay" / "monthly" / month: ("statement_by_station", "statement_by_rights_holder"),
        reports / "dead_air" / "daily" / day: ("alerts", "totals"),
        reports / "coverage" / "daily" / day: ("station_hours", "per_station", "gaps", "gap_causes"),
        reports / "stats" / "latest": ("recordings_by_status", "per_station", "backlog", "storage"),
    }
    for folder, tables in expected.items():
        for table in tables:
            csv, parquet = pd.read_csv(folder / f"{table}.csv"), pd.read_parquet(folder / f"{table}.parquet")
            assert list(csv.columns) == list(parquet.columns) and len(csv) == len(parquet), folder / table
        html = (folder / "index.html").read_text(encoding="utf-8")
        assert html.startswith("<!doctype html>") and DEMO_STATION in html, folder
        assert 'src="data:image/png;base64,' in html, f"{folder}/index.html has no chart"
    # The cue sheet agrees with airplay_events, and the dead-air totals with the alerts.
    plays = _asset(demo_run, "airplay_events")
    statement = pd.read_csv(reports / "airplay" / "monthly" / month / "statement_by_station.csv")
    assert statement.set_index("track_id")["plays"].to_dict() == plays["track_id"].value_counts().to_dict()
    assert statement["seconds"].sum() == pytest.approx(plays["duration_s"].sum(), abs=0.01)
    totals = pd.read_csv(reports / "dead_air" / "daily" / day / "totals.csv").set_index("station")
    assert totals.loc[DEMO_STATION, "alerts"] == len(_asset(demo_run, "dead_air_alerts"))
    daily_plays = pd.read_csv(reports / "daily_log" / day / "plays.csv")
    assert len(daily_plays) == len(plays)
