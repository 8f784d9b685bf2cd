"""Incremental analytics rebuilds: the same tables as a full rebuild, for a fraction of the work.

Each test starts from a copy of a nine-day, two-station data root whose newest hour and one midnight
hour are held back, changes it the way the pipeline does (files published by a rename), rebuilds
incrementally, then rebuilds in full and compares every table and view row for row.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from pige_pipeline.analytics import build_info, connect, db_path, rebuild
from pige_pipeline.analytics.build import SCHEMA_VERSION, TABLES, RebuildResult
from pige_pipeline.analytics.regions import base_days, extend_keys, runs
from pige_pipeline.analytics.schemas import ASSET_SCHEMAS
from pige_pipeline.cli import app
from pige_pipeline.defs.analytics.assets import analytics
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.store.gaps import Gap, append_gap
from pige_pipeline.store.parquet import asset_hour_path, read_asset_hour, write_asset_hour
from pige_pipeline.testing.synthetic_year import ForcedPlay, generate, settings_for, write_hourly

START = datetime(2026, 3, 1, 18, tzinfo=UTC)
HOURS = 8 * 24  # 2026-03-01 18:00 to 2026-03-09 17:00: nine UTC days
STATIONS = ("radio-a", "radio-b")
NEWEST = START + timedelta(hours=HOURS - 1)
MIDNIGHT = datetime(2026, 3, 5, tzinfo=UTC)
NOW = datetime(2026, 3, 9, 18, 30, tzinfo=UTC)  # the same `now` for both builds: open gaps read up to it
FORCED = (
    ForcedPlay("radio-a", "T00001", MIDNIGHT - timedelta(minutes=2), 300.0),
    ForcedPlay("radio-b", "T00002", datetime(2026, 3, 6, 23, 57, 30, tzinfo=UTC), 400.0),
)
COMPARED = (*TABLES, "problems", "play_segments")


def _move_hour(source: Path, target: Path, hour: datetime) -> None:
    """Move one hour of every asset and station from one data root to another, by rename."""
    for asset_dir in sorted((source / "parquet").iterdir()):
        for station in STATIONS:
            path = asset_hour_path(source, asset_dir.name, station, hour)
            if path.exists():
                moved = asset_hour_path(target, asset_dir.name, station, hour)
                moved.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, moved)


@pytest.fixture(scope="module")
def held_back(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built data root (`base/data`) with two hours held back in `base/later`."""
    base = tmp_path_factory.mktemp("incremental")
    root = base / "data"
    write_hourly(root, generate(STATIONS, START, HOURS, seed=11, forced_plays=FORCED))
    for hour in (NEWEST, MIDNIGHT):
        _move_hour(root, base / "later", hour)
    rebuild(settings_for(root), now=NOW)
    return base


@pytest.fixture
def data_root(held_back: Path, tmp_path: Path) -> Path:
    shutil.copytree(held_back, tmp_path / "base")
    root = tmp_path / "base" / "data"
    first = rebuild(settings_for(root), now=NOW)
    assert first.mode == "full" and "built for" in first.reason  # the copy's views named the original
    return root


def _snapshot(root: Path) -> dict[str, Counter[tuple[object, ...]]]:
    """Every compared table as a multiset of rows (floats to 1e-6: sums may add in another order)."""
    rows: dict[str, Counter[tuple[object, ...]]] = {}
    with connect(root) as con:
        for name in COMPARED:
            rows[name] = Counter(
                tuple(round(v, 6) if isinstance(v, float) else v for v in row)
                for row in con.execute(f"SELECT * FROM {name}").fetchall()
            )
    return rows


def _incremental_equals_full(root: Path) -> RebuildResult:
    """Rebuild incrementally, then in full, and check that every table came out the same."""
    incremental = rebuild(settings_for(root), now=NOW)
    assert incremental.mode == "incremental", incremental.reason
    after = _snapshot(root)
    full = rebuild(settings_for(root), now=NOW, full=True)
    assert full.mode == "full" and full.reason == "asked for"
    expected = _snapshot(root)
    for name in COMPARED:
        missing, extra = expected[name] - after[name], after[name] - expected[name]
        assert not missing and not extra, f"{name}: {len(missing)} rows missing, {len(extra)} extra"
    assert incremental.tables == full.tables
    return incremental


def _ranges(result: RebuildResult, table: str) -> list[tuple[date, date]]:
    return result.refreshes[table].ranges


def test_a_new_hour_restitches_its_day_and_the_day_before(data_root: Path) -> None:
    before = rebuild(settings_for(data_root), now=NOW)
    assert before.mode == "incremental" and before.days_restitched == 0  # nothing changed, nothing redone
    _move_hour(data_root.parent / "later", data_root, NEWEST)
    result = _incremental_equals_full(data_root)
    day = NEWEST.date()
    for table in ("plays", "silence_events", "dead_air_events"):
        refresh = result.refreshes[table]
        assert not refresh.full and refresh.changed_days == 1 and refresh.days == 9
        assert refresh.ranges == [(day - timedelta(days=1), day + timedelta(days=1))]
        assert refresh.days_restitched == 2
    with connect(data_root) as con:
        pieces = con.execute("SELECT count(*) FROM airplay_events").fetchone()[0]
        assert con.execute("SELECT max(start) FROM plays").fetchone()[0] >= NEWEST
    # Less work: two days' pieces stitched out of nine days'.
    assert result.refreshes["plays"].pieces < pieces * 0.3
    assert build_info(connect(data_root))["mode"] == "full"  # the last build of the check was the full one


def test_an_hour_after_midnight_joins_the_play_begun_the_day_before(data_root: Path) -> None:
    with connect(data_root) as con:
        lone = con.execute(
            "SELECT segments FROM plays WHERE station = 'radio-a' AND track_id = 'T00001' AND start = ?",
            [MIDNIGHT - timedelta(minutes=2)],
        ).fetchall()
    assert lone == [(1,)]  # its second piece is held back
    _move_hour(data_root.parent / "later", data_root, MIDNIGHT)
    result = _incremental_equals_full(data_root)
    assert _ranges(result, "plays") == [(date(2026, 3, 4), date(2026, 3, 7))]
    with connect(data_root) as con:
        joined = con.execute(
            "SELECT segments FROM plays WHERE station = 'radio-a' AND track_id = 'T00001' AND start = ?",
            [MIDNIGHT - timedelta(minutes=2)],
        ).fetchall()
    assert joined == [(2,)]


def test_a_rewritten_old_hour_and_a_removed_hour(data_root: Path) -> None:
    schema = ASSET_SCHEMAS["airplay_events"]
    hour = datetime(2026, 3, 3, 12, tzinfo=UTC)
    rows = read_asset_hour(data_root, "airplay_events", "radio-a", hour)
    assert rows is not None and len(rows) > 4
    write_asset_hour(data_root, "airplay_events", "radio-a", hour, rows.iloc[::2], schema)
    result = _incremental_equals_full(data_root)
    assert _ranges(result, "plays") == [(date(2026, 3, 2), date(2026, 3, 5))]
    assert result.refreshes["silence_events"].ranges == []  # its source did not change
    # A removed hour (its file deleted) takes its plays with it.
    for asset in ("airplay_events", "silences", "dead_air_alerts"):
        asset_hour_path(data_root, asset, "radio-b", datetime(2026, 3, 7, 9, tzinfo=UTC)).unlink()
    result = _incremental_equals_full(data_root)
    assert _ranges(result, "plays") == [(date(2026, 3, 6), date(2026, 3, 9))]


def _long_silence(root: Path, start: datetime, end: datetime, station: str, status: str) -> None:
    """Silence and dead air from `start` to `end`, cut at hour boundaries as the hourly assets write it."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        piece_start, piece_end = max(start, hour), min(end, hour + timedelta(hours=1))
        seconds = (piece_end - piece_start).total_seconds()
        common = {
            "start": piece_start,
            "end": piece_end,
            "start_s": (piece_start - hour).total_seconds(),
            "end_s": (piece_end - hour).total_seconds(),
            "duration_s": seconds,
        }
        silence = common | {
            "level_db": -80.0,
            "kind": "digital_silence",
            "threshold_db": -50.0,
            "continues_from_previous_hour": piece_start > start,
            "continues_into_next_hour": piece_end < end,
        }
        alert = common | {
            "alert_id": f"long-{hour:%d%H}",
            "severity": "critical",
            "classification": "suspect",
            "confidence": 0.9,
            "explanation": "transmitter off",
            "classifier": "rules",
            "context_start_s": 0.0,
            "context_end_s": 3600.0,
            "context_transcript": "",
            "notified_at": start + timedelta(seconds=30),
            "notification_status": status,
        }
        for asset, row in (("silences", silence), ("dead_air_alerts", alert)):
            old = read_asset_hour(root, asset, station, hour)
            rows = pd.DataFrame([row]) if old is None or old.empty else pd.concat([old, pd.DataFrame([row])])
            write_asset_hour(root, asset, station, hour, rows, ASSET_SCHEMAS[asset])
        hour += timedelta(hours=1)


def test_an_event_across_days_widens_what_is_restitched(data_root: Path) -> None:
    # A transmitter off from Friday 20:00 to Sunday 04:00: one dead-air event over three UTC days.
    start, end = datetime(2026, 3, 6, 20, tzinfo=UTC), datetime(2026, 3, 8, 4, tzinfo=UTC)
    _long_silence(data_root, start, end, "radio-b", "sent")
    result = _incremental_equals_full(data_root)
    assert _ranges(result, "dead_air_events") == [(date(2026, 3, 5), date(2026, 3, 10))]
    # Only its last hour is rewritten; the event begun two days earlier is stitched again whole.
    hour = datetime(2026, 3, 8, 3, tzinfo=UTC)
    rows = read_asset_hour(data_root, "dead_air_alerts", "radio-b", hour)
    assert rows is not None
    rows.loc[rows["alert_id"] == "long-0803", "notification_status"] = "failed"
    write_asset_hour(data_root, "dead_air_alerts", "radio-b", hour, rows, ASSET_SCHEMAS["dead_air_alerts"])
    result = _incremental_equals_full(data_root)
    refresh = result.refreshes["dead_air_events"]
    assert refresh.ranges == [(date(2026, 3, 7), date(2026, 3, 10))]
    assert refresh.extended == {"radio-b": [date(2026, 3, 6)]}  # that station only, one day back
    assert result.refreshes["silence_events"].ranges == []
    with connect(data_root) as con:
        event = con.execute(
            "SELECT segments, duration_s, notification_status FROM dead_air_events "
            "WHERE station = 'radio-b' AND start <= ? AND \"end\" >= ?",
            [start, end],
        ).fetchone()
    assert event is not None and event[0] >= 32 and event[1] >= (end - start).total_seconds()


def test_a_catalogue_change_restitches_that_track_only(data_root: Path) -> None:
    catalogue = data_root / "catalogue" / "catalogue.csv"
    frame = pd.read_csv(catalogue, dtype=str, keep_default_na=False)
    frame.loc[frame["track_id"] == "T00003", "publisher"] = "Nouvelles Éditions"
    scratch = catalogue.with_name(".catalogue.csv.tmp")
    frame.to_csv(scratch, index=False)
    os.replace(scratch, catalogue)
    result = _incremental_equals_full(data_root)
    assert result.refreshes["plays"].tracks == 1 and result.refreshes["plays"].ranges == []
    with connect(data_root) as con:
        publishers = con.execute("SELECT DISTINCT publisher FROM plays WHERE track_id = 'T00003'").fetchall()
    assert publishers == [("Nouvelles Éditions",)]


def test_a_gap_log_line_reads_one_log_file(data_root: Path) -> None:
    gap = Gap("radio-a", datetime(2026, 3, 4, 7, 10, tzinfo=UTC), None, cause="stream_down")
    append_gap(data_root, gap)
    result = _incremental_equals_full(data_root)
    assert result.gap_files_parsed == 1
    with connect(data_root) as con:
        assert con.execute("SELECT open FROM gaps WHERE start = ?", [gap.start]).fetchone() == (True,)


def test_pieces_outside_their_day_fall_back_to_a_full_restitch(data_root: Path) -> None:
    hour = datetime(2026, 3, 3, 0, tzinfo=UTC)
    rows = read_asset_hour(data_root, "silences", "radio-a", hour)
    assert rows is not None
    stray = {
        "start": hour - timedelta(seconds=30),  # begins in the file of the day before
        "end": hour + timedelta(seconds=5),
        "start_s": -30.0,
        "end_s": 5.0,
        "duration_s": 35.0,
        "level_db": -70.0,
        "kind": "digital_silence",
        "threshold_db": -50.0,
        "continues_from_previous_hour": False,
        "continues_into_next_hour": False,
    }
    rows = pd.concat([rows, pd.DataFrame([stray])]) if len(rows) else pd.DataFrame([stray])
    write_asset_hour(data_root, "silences", "radio-a", hour, rows, ASSET_SCHEMAS["silences"])
    result = _incremental_equals_full(data_root)
    refresh = result.refreshes["silence_events"]
    assert refresh.full and "outside their file's UTC day" in refresh.reason
    assert not result.refreshes["plays"].full


def test_full_rebuild_when_asked_without_a_database_or_on_a_new_schema(data_root: Path) -> None:
    db_path(data_root).unlink()
    assert rebuild(settings_for(data_root), now=NOW).reason == "no previous database"
    con = duckdb.connect(str(db_path(data_root)))
    con.execute("UPDATE build_info SET value = '1' WHERE key = 'schema_version'")
    con.close()
    result = rebuild(settings_for(data_root), now=NOW)
    assert result.mode == "full" and f"schema version 1, not {SCHEMA_VERSION}" in result.reason
    assert rebuild(settings_for(data_root), now=NOW, full=True).reason == "asked for"
    assert rebuild(settings_for(data_root), now=NOW).mode == "incremental"


def test_full_rebuild_from_the_asset_config_and_the_command_line(data_root: Path) -> None:
    resources = pige_resources(PigeResource(data_root=str(data_root)))
    instance = dg.DagsterInstance.ephemeral()
    _move_hour(data_root.parent / "later", data_root, NEWEST)
    result = dg.materialize([analytics], resources=resources, instance=instance)
    assert result.success
    meta = result.asset_materializations_for_node("analytics")[0].metadata
    assert meta["mode"].value == "incremental" and meta["days_restitched"].value == 6  # 2 days x 3 tables
    assert "days_restitched" in meta["stitched"].value
    config = {"ops": {"analytics": {"config": {"full": True, "memory_limit": "1GB"}}}}
    result = dg.materialize([analytics], resources=resources, instance=instance, run_config=config)
    meta = result.asset_materializations_for_node("analytics")[0].metadata
    assert meta["mode"].value == "full" and meta["full_reason"].value == "asked for"
    out = CliRunner().invoke(app, ["analytics", "rebuild", "--data-root", str(data_root)])
    assert out.exit_code == 0, out.output
    assert "(incremental; compaction" in out.output
    out = CliRunner().invoke(
        app, ["analytics", "rebuild", "--full", "--memory-limit", "1GB", "--data-root", str(data_root)]
    )
    assert out.exit_code == 0, out.output
    assert "(full: asked for; compaction" in out.output and "stitched plays: all 9 days" in out.output


READER = """
import sys
from pathlib import Path
from pige_pipeline.analytics import connect
con = connect(Path(sys.argv[1]))
for line in sys.stdin:
    if line.strip() == "reconnect":
        con.close()
        con = connect(Path(sys.argv[1]))
    print(con.execute("SELECT count(*) FROM plays").fetchone()[0], flush=True)
"""


def test_a_reader_holding_the_old_file_keeps_working(data_root: Path) -> None:
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(data_root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin is not None and reader.stdout is not None

    def ask(command: str = "count") -> int:
        reader.stdin.write(command + "\n")
        reader.stdin.flush()
        line = reader.stdout.readline()
        assert line, "the reader process died"
        return int(line)

    try:
        before = ask()
        _move_hour(data_root.parent / "later", data_root, NEWEST)
        # The incremental build copies the file the reader has open; it is not blocked by it.
        result = rebuild(settings_for(data_root), now=NOW)
        assert result.mode == "incremental" and result.tables["plays"] > before
        assert ask() == before  # the old snapshot, still answering
        assert ask("reconnect") == result.tables["plays"]
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    assert reader.returncode == 0, reader.stderr.read() if reader.stderr else ""


def test_days_planned_and_keys_extended_while_their_islands_cross_midnight() -> None:
    d = [date(2026, 1, 1) + timedelta(days=i) for i in range(10)]
    assert base_days({d[4]}, d[0], d[9]) == {d[3], d[4], d[5]}
    assert base_days({d[0], d[9]}, d[0], d[9]) == {d[0], d[1], d[8], d[9]}
    assert runs(base_days({d[2], d[4]}, d[0], d[9])) == [(d[1], d[6])]
    assert runs(base_days({d[1], d[7]}, d[0], d[9])) == [(d[0], d[3]), (d[6], d[9])]
    # Key "a" has an island across every midnight from d[1] to d[8]; "b" across d[6] only.
    crossing = {d[i]: {"a"} for i in range(1, 9)} | {d[6]: {"a", "b"}}
    asked: list[date] = []

    def keys_at(day: date) -> set[str]:
        asked.append(day)
        return set(crossing.get(day, set()))

    extra = extend_keys(base_days({d[4]}, d[0], d[9]), keys_at)
    assert extra == {"a": {d[0], d[1], d[2], d[6], d[7], d[8]}, "b": {d[6]}}
    assert not {d[4], d[5]} & set(asked)  # never a midnight next to a changed day
    # A key that runs into another run stops there: that run's edges are searched for every key. "b"
    # crosses a midnight only between the runs, where nothing of it changes.
    extra = extend_keys(base_days({d[2], d[8]}, d[0], d[9]), keys_at)
    assert extra == {"a": {d[0], d[4], d[5], d[6]}}
