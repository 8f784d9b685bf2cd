"""Build `analytics/analytics.duckdb`: views over every hourly asset plus the tables reports need.

One writer builds `analytics.duckdb.tmp` and `os.replace`s it over the live file. DuckDB lets only one
process open a file for writing, and even a read-only reader blocks a writer on the same file; the
writer here never opens the live file, so an open notebook never blocks the pipeline, and a reader
keeps the old inode (a complete snapshot) until it reconnects. A lock file serialises writers.

Paths inside views are absolute (resolved at build time), so the database works from any client and
any working directory. Moving the data root means rebuilding (`pige analytics rebuild`).

A rebuild is incremental when it can be: the new file starts as a copy of the live one, and only what
changed since that build is read again. The database records the compacted day files it was built
from (`_day_files`) and the gap log files it parsed (`_gap_files`); the stitched tables (plays, silence
and dead-air events) are re-stitched for the changed days plus enough neighbouring days that no event
crosses the edge of what is redone (see `regions`), so they equal a full rebuild's. Views, stations,
catalogue and counts are recreated every time (they cost little). A full rebuild is made when asked
for, when there is no previous database, or when it was built by another schema version or for
another data root.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pige_pipeline.analytics.compaction import (
    CompactionResult,
    compact_asset,
    compacted_glob,
    compacted_root,
    hourly_assets,
)
from pige_pipeline.analytics.gap_table import refresh_gaps
from pige_pipeline.analytics.manifest import DayFile, ManifestDiff, diff, list_day_files
from pige_pipeline.analytics.regions import ONE_DAY, DayRange, base_days, extend_keys, runs
from pige_pipeline.analytics.schemas import (
    ASSET_SCHEMAS,
    CATALOGUE_COLUMNS,
    NOT_COMPACTED,
    RIGHTS_HOLDER_COLUMNS,
)
from pige_pipeline.analytics.stitching import (
    assign_events,
    drop_events,
    play_segments_joinable,
    play_segments_surely_joinable_sql,
)
from pige_pipeline.evidence.sources import fill_sources
from pige_pipeline.settings import PigeSettings
from pige_pipeline.stations import StationsFileError, load_stations

DB_NAME = "analytics.duckdb"

# Raise when a table's definition, the stitching rule or the row checks change: a database built by
# another version is rebuilt in full instead of patched. 3: `plays` and `dead_air_events` are stored
# in (station, start) order (see `_write`).
SCHEMA_VERSION = 3

# Tables the rebuild materialises; everything else is a view over Parquet (`play_segments` is a view
# over `airplay_events` and `play_links`).
TABLES = ("stations", "catalogue", "gaps", "plays", "play_links", "silence_events", "dead_air_events")


class AnalyticsNotBuiltError(FileNotFoundError):
    """The analytics database has not been built yet for this data root."""


@dataclass
class TableRefresh:
    """How one stitched table was brought up to date, and how much of the history that took."""

    table: str
    source: str  # the asset its pieces come from
    full: bool  # re-stitched from every day (a full build, or the fallback below)
    reason: str = ""  # why a full re-stitch, in an incremental build
    days: int = 0  # day files of the source now
    changed_days: int = 0  # days whose compacted file is new, rewritten or removed since the last build
    ranges: list[DayRange] = field(default_factory=list)  # [start, end) days re-stitched for every key
    days_restitched: int = 0  # the days in `ranges` (every day in a full re-stitch)
    extended: dict[str, list[date]] = field(default_factory=dict)  # key -> further days, for some keys
    tracks: int = 0  # plays: tracks whose catalogue entry changed, re-stitched on every day
    pieces: int = 0  # source rows stitched


@dataclass
class RebuildResult:
    """What a rebuild produced: row counts per table and view, timings and the problems it skipped."""

    path: Path
    seconds: float
    compaction_seconds: float
    tables: dict[str, int] = field(default_factory=dict)
    views: dict[str, str] = field(default_factory=dict)  # name -> "parquet" | "empty" | "derived"
    compaction: list[CompactionResult] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # wall seconds per step, in order
    mode: str = "full"  # "full" | "incremental"
    reason: str = ""  # why this build was full
    refreshes: dict[str, TableRefresh] = field(default_factory=dict)
    gap_files_parsed: int = 0

    @property
    def days_restitched(self) -> int:
        """Days re-stitched, summed over the stitched tables (each table's whole history in a full build)."""
        return sum(r.days_restitched for r in self.refreshes.values())


class _Laps:
    """Wall seconds of each step of a rebuild, so a slow one can be found without a profiler."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self._last
        self._last = now


def db_path(data_root: Path) -> Path:
    return data_root / "analytics" / DB_NAME


def connect(data_root: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the analytics database (PIGE_DATA_ROOT by default), in UTC."""
    path = db_path(data_root or PigeSettings.from_env().data_root)
    if not path.exists():
        raise AnalyticsNotBuiltError(
            f"{path} does not exist yet: run `pige analytics rebuild` or materialize the `analytics` asset"
        )
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def _writer_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".rebuild.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _empty_relation(con: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema) -> None:
    con.register("_empty", schema.empty_table())
    try:
        con.execute(f"CREATE TABLE {_ident('_empty_' + name)} AS SELECT * FROM _empty")
    finally:
        con.unregister("_empty")
    con.execute(f"CREATE VIEW {_ident(name)} AS SELECT * FROM {_ident('_empty_' + name)}")


def _duckdb_type(con: duckdb.DuckDBPyConnection, dtype: pa.DataType) -> str:
    con.register("_probe", pa.table({"x": pa.array([], dtype)}))
    try:
        return con.execute("SELECT data_type FROM (DESCRIBE _probe)").fetchone()[0]
    finally:
        con.unregister("_probe")


# Assets whose pieces are stitched into tables, and the table each feeds.
STITCHED_SOURCES = {
    "airplay_events": "plays",
    "silences": "silence_events",
    "dead_air_alerts": "dead_air_events",
}


def _src(asset: str) -> str:
    """The internal view of a stitched source: the asset's view plus `filename`, to read some days only."""
    return _ident(f"_src_{asset}")


def _asset_view(con: duckdb.DuckDBPyConnection, name: str, glob: str, problems: list[dict[str, str]]) -> None:
    source = f"read_parquet({_q(glob)}, hive_partitioning = false, union_by_name = true)"
    # DuckDB skips the files a `filename` condition rules out, so the stitched sources also get a
    # view that can be narrowed to a few days.
    src_source = source[:-1] + ", filename = true)"
    con.execute(f"CREATE VIEW {_ident(name)} AS SELECT * FROM {source}")
    schema = ASSET_SCHEMAS.get(name)
    pads = ""
    if schema is not None:
        present = {row[0] for row in con.execute(f"DESCRIBE {_ident(name)}").fetchall()}
        missing = [f for f in schema if f.name not in present]
        if missing:
            # Reports query the documented core columns; a file set without one still gets a view,
            # padded with NULLs, and the gap is reported so the owning domain can fix its schema.
            pads = ", " + ", ".join(
                f"CAST(NULL AS {_duckdb_type(con, f.type)}) AS {_ident(f.name)}" for f in missing
            )
            con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS SELECT *{pads} FROM {source}")
            problems.append(
                {
                    "asset": name,
                    "station": "",
                    "hour": "",
                    "problem": f"{name}: core columns missing from its Parquet files: "
                    f"{', '.join(f.name for f in missing)} (see docs/architecture.md); they read as NULL",
                }
            )
    if name in STITCHED_SOURCES:
        con.execute(f"CREATE VIEW {_src(name)} AS SELECT *{pads} FROM {src_source}")


def _drop_rebuilt_objects(con: duckdb.DuckDBPyConnection) -> None:
    """In a copied database, drop what every build recreates (views, small tables, build_info)."""
    for (name,) in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary AND schema_name = 'main'"
    ).fetchall():
        con.execute(f"DROP VIEW IF EXISTS {_ident(name)}")
    for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND schema_name = 'main' "
        "AND starts_with(table_name, '_empty_')"
    ).fetchall():
        con.execute(f"DROP TABLE {_ident(name)}")
    for name in ("stations", "problems", "build_info", "_catalogue_previous"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    con.execute("ALTER TABLE catalogue RENAME TO _catalogue_previous")


def _create_views(
    con: duckdb.DuckDBPyConnection, data_root: Path, problems: list[dict[str, str]]
) -> dict[str, str]:
    views: dict[str, str] = {}
    assets = sorted(set(ASSET_SCHEMAS) | set(hourly_assets(data_root)))
    for asset in assets:
        if asset in NOT_COMPACTED:
            tree = (data_root / "parquet" / asset).resolve()
            has_files = tree.is_dir() and next(tree.glob("*/*/*/*/*.parquet"), None) is not None
            glob = str(tree / "*" / "*" / "*" / "*" / "*.parquet") if has_files else None
        else:
            glob = compacted_glob(data_root, asset)
        if glob:
            _asset_view(con, asset, glob, problems)
            views[asset] = "parquet"
        else:
            _empty_relation(con, asset, ASSET_SCHEMAS.get(asset, pa.schema([("station", pa.string())])))
            if asset in STITCHED_SOURCES:
                con.execute(
                    f"CREATE VIEW {_src(asset)} AS SELECT *, CAST(NULL AS VARCHAR) AS filename "
                    f"FROM {_ident(asset)}"
                )
            views[asset] = "empty"
    processed = compacted_root(data_root).resolve() / "_processed"
    if processed.is_dir() and next(processed.glob("*/*/*/*.parquet"), None) is not None:
        glob = str(processed / "*" / "*" / "*" / "*.parquet")
        con.execute(
            "CREATE VIEW processed_hours AS SELECT asset, station, hour, rows, path "
            f"FROM read_parquet({_q(glob)}, hive_partitioning = false, union_by_name = true)"
        )
        views["processed_hours"] = "parquet"
    else:
        _empty_relation(
            con,
            "processed_hours",
            pa.schema(
                [
                    ("asset", pa.string()),
                    ("station", pa.string()),
                    ("hour", pa.timestamp("us", tz="UTC")),
                    ("rows", pa.int64()),
                    ("path", pa.string()),
                ]
            ),
        )
        views["processed_hours"] = "empty"
    return views


def _load_stations_table(
    con: duckdb.DuckDBPyConnection, settings: PigeSettings, problems: list[dict[str, str]]
) -> None:
    rows: list[dict[str, object]] = []
    try:
        for station in load_stations(settings.stations_file).stations:
            rows.append(
                {
                    "station": station.id,
                    "name": station.name,
                    "timezone": station.timezone,
                    "language": station.language,
                    "enabled": station.enabled,
                    "retention_days": station.retention_days,
                }
            )
    except StationsFileError as exc:
        problems.append({"asset": "stations", "station": "", "hour": "", "problem": str(exc)})
    schema = pa.schema(
        [
            ("station", pa.string()),
            ("name", pa.string()),
            ("timezone", pa.string()),
            ("language", pa.string()),
            ("enabled", pa.bool_()),
            ("retention_days", pa.int64()),
        ]
    )
    con.register("_stations", pa.Table.from_pylist(rows, schema=schema))
    # Stations that have data but are no longer in the registry still belong in reports.
    con.execute(
        """
        CREATE TABLE stations AS
        SELECT *, true AS in_registry FROM _stations
        UNION ALL
        SELECT DISTINCT station, station, 'UTC', NULL, false, NULL, false
        FROM audio_chunks WHERE station NOT IN (SELECT station FROM _stations)
        ORDER BY station
        """
    )
    con.unregister("_stations")


def _load_catalogue(
    con: duckdb.DuckDBPyConnection, settings: PigeSettings, problems: list[dict[str, str]]
) -> list[str]:
    """Load the catalogue; returns the rights-holder columns it actually has."""
    path = settings.catalogue_file
    frame = pd.DataFrame(columns=list(CATALOGUE_COLUMNS))
    known: list[str] = []
    if path.exists():
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            frame.columns = [c.strip().lower() for c in frame.columns]
            if "track_id" not in frame.columns:
                raise ValueError("no 'track_id' column")
            known = [c for c in RIGHTS_HOLDER_COLUMNS if c in frame.columns]
            duplicated = frame["track_id"][frame["track_id"].duplicated()].unique().tolist()
            if duplicated:
                problems.append(
                    {
                        "asset": "catalogue",
                        "station": "",
                        "hour": "",
                        "problem": f"{path}: track_id repeated ({', '.join(duplicated[:5])}); "
                        "the first row of each is used",
                    }
                )
                frame = frame.drop_duplicates("track_id")
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            problems.append(
                {
                    "asset": "catalogue",
                    "station": "",
                    "hour": "",
                    "problem": f"{path}: cannot be read as the catalogue CSV ({exc}); "
                    "expected columns track_id,title,artist,isrc,path[,label,composer,publisher]",
                }
            )
            frame = pd.DataFrame(columns=list(CATALOGUE_COLUMNS))
    for column in CATALOGUE_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame.replace({"": None})
    table = pa.Table.from_pandas(frame.astype(object), preserve_index=False)
    table = table.cast(pa.schema([(c, pa.string()) for c in table.column_names]))
    con.register("_catalogue", table)
    con.execute("CREATE TABLE catalogue AS SELECT * FROM _catalogue")
    con.unregister("_catalogue")
    return known


_UTC_DAY = "CAST(timezone('UTC', {col}) AS DATE)"


def _good(checks: list[tuple[str, str]]) -> str:
    """The WHERE condition of rows passing `checks` (SQL condition that rejects, reason)."""
    return " AND ".join(f"NOT coalesce({condition}, true)" for condition, _ in checks) or "true"


def _reject(
    con: duckdb.DuckDBPyConnection, asset: str, id_sql: str, checks: list[tuple[str, str]], where: str
) -> None:
    """Record the rows of `asset` matching `where` that fail `checks` in `_rejected_rows`."""
    if not checks:
        return
    reasons = ", ".join(f"CASE WHEN {condition} THEN {_q(reason)} END" for condition, reason in checks)
    # One scan of the asset for every check: a year of airplay_events is 6.9 M rows.
    con.execute(
        f"""
        INSERT INTO _rejected_rows
        SELECT {_q(asset)}, filename, coalesce(station, ''), coalesce(CAST(hour AS VARCHAR), ''),
               {_q(asset)} || ' row ' || coalesce(CAST(_id AS VARCHAR), '?') || ' of station '
               || coalesce(station, '?') || ' at ' || coalesce(CAST(hour AS VARCHAR), '?') || ': '
               || _reason || '; re-run that hour to fix it'
        FROM (
            SELECT filename, station, hour, {id_sql} AS _id, unnest([{reasons}]) AS _reason
            FROM {_src(asset)}
            WHERE ({where}) AND ({" OR ".join(f"({condition})" for condition, _ in checks)})
        )
        WHERE _reason IS NOT NULL
        """
    )


_SPAN_CHECKS = [
    ('station IS NULL OR start IS NULL OR "end" IS NULL', "station, start or end is empty"),
    ('"end" < start', "end is before start"),
    ("duration_s IS NULL OR duration_s < 0", "duration_s is empty or negative"),
]


@dataclass(frozen=True)
class _Scope:
    """Which pieces a stitching pass reads, and which rows of its tables they replace.

    `pieces` is a SQL condition on the source view's rows (aliased `s`). `replace` is a condition on
    a table's rows (aliased `t`, `{day}` standing for the UTC day an event or piece starts on) to
    delete before inserting the new ones; None creates the tables afresh (a full pass).
    """

    pieces: str = "true"
    replace: str | None = None


def _write(
    con: duckdb.DuckDBPyConnection,
    table: str,
    query: str,
    replace: str | None,
    day: str = "t.day",
    order: str | None = None,
) -> None:
    """Create `table` from `query`, or delete its `replace` rows and insert the query's rows instead.

    `order` stores the rows in that order. The API's listings read one station's time range
    (`station = ? AND start >= ? AND start < ?`): in (station, start) order a station's month lies in
    a few consecutive blocks, and DuckDB's zone maps (min/max per row group and column segment) skip
    every other block instead of scanning the year. An incremental patch appends its rows, sorted
    the same way, after the kept ones: they cover a few days, so the zone maps still skip them.
    """
    if order is not None:
        query = f"SELECT * FROM ({query}) ORDER BY {order}"
    if replace is None:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS {query}")
    else:
        con.execute(f"DELETE FROM {table} AS t WHERE {replace.format(day=day)}")
        con.execute(f"INSERT INTO {table} BY NAME {query}")


# Storage order of the tables the API pages over (station equality plus a range on `start`).
PLAYS_ORDER = "station, start, play_id"
DEAD_AIR_ORDER = "station, start, alert_id"


_PLAY_CHECKS = [*_SPAN_CHECKS, ("track_id IS NULL", "track_id is empty")]


def _build_plays(con: duckdb.DuckDBPyConnection, scope: _Scope) -> int:
    """Stitch the pieces in `scope` into `plays` and `play_links`; returns the pieces read."""
    # A piece's `play_start`/`play_end` is the whole play as its hour saw it, margins of the
    # neighbouring hours included (airplay/boundary.py); files written before them have only the part.
    columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {_src('airplay_events')}").fetchall()}
    extent = (
        "least(coalesce(play_start, start), start) AS play_start, "
        'greatest(coalesce(play_end, "end"), "end") AS play_end'
        if {"play_start", "play_end"} <= columns
        else 'start AS play_start, "end" AS play_end'
    )
    con.execute(
        f"""
        CREATE TEMP VIEW _play_src AS
        SELECT station, hour, play_id, track_id, title, artist, isrc, start, "end", duration_s,
               ref_offset_s, score, confidence, {extent}
        FROM {_src("airplay_events")} AS s WHERE {_good(_PLAY_CHECKS)} AND ({scope.pieces})
        """
    )
    assign_events(
        con,
        "_play_src",
        ["station", "track_id"],
        "_play_seg",
        joinable=play_segments_joinable(),
        payload="ref_offset_s",
        surely_joinable_sql=play_segments_surely_joinable_sql(),
        tiebreak=["ref_offset_s", "play_id"],
    )
    pieces = con.execute("SELECT count(*) FROM _play_seg").fetchone()[0]
    rights = ", ".join(f"c.{c}" for c in RIGHTS_HOLDER_COLUMNS)
    day = _UTC_DAY.format(col="p.start")
    con.execute(
        """
        CREATE TEMP TABLE _play_multi AS
        SELECT station, track_id, island, sub,
               arg_min(play_id, start) AS play_id,
               arg_min(title, start) AS title, arg_min(artist, start) AS artist,
               arg_min(isrc, start) AS isrc,
               min(play_start) AS start, max(play_end) AS "end",
               sum(duration_s) + epoch(min(start) - min(play_start)) + epoch(max(play_end) - max("end"))
                   AS seconds,
               count(*) AS segments,
               max(score) AS score, max(confidence) AS confidence
        FROM _play_seg WHERE NOT alone GROUP BY station, track_id, island, sub
        """
    )
    # A lone piece is a whole play (95% of them): only plays of several pieces were grouped.
    _write(
        con,
        "plays",
        f"""
        WITH events AS (
            SELECT play_id, station, track_id, title, artist, isrc, play_start AS start, play_end AS "end",
                   duration_s + epoch(start - play_start) + epoch(play_end - "end") AS seconds,
                   1::BIGINT AS segments, score, confidence
            FROM _play_seg WHERE alone
            UNION ALL BY NAME
            SELECT * EXCLUDE (island, sub) FROM _play_multi
        )
        SELECT p.play_id, p.station, p.track_id,
               coalesce(p.title, c.title) AS title, coalesce(p.artist, c.artist) AS artist,
               coalesce(p.isrc, c.isrc) AS isrc,
               p.start, p."end", p.seconds, p.segments, p.score, p.confidence,
               {day} AS day, CAST(date_trunc('month', {day}) AS DATE) AS month,
               {rights}
        FROM events p LEFT JOIN catalogue c ON c.track_id = p.track_id
        """,
        scope.replace,
        order=PLAYS_ORDER,
    )
    # Only the pieces of plays in several pieces need their play named; `play_segments` is a view
    # that gives every other piece its own play_id, so the 6.9 M pieces of a year are not copied.
    _write(
        con,
        "play_links",
        """
        SELECT s.station, s.track_id, s.start, s."end", s.play_id AS segment_play_id,
               any_value(m.play_id) AS play_id
        FROM _play_seg s JOIN _play_multi m USING (station, track_id, island, sub)
        WHERE NOT s.alone
        GROUP BY ALL
        """,
        scope.replace,
        day=_UTC_DAY.format(col="t.start"),
    )
    drop_events(con, "_play_seg")
    con.execute("DROP TABLE _play_multi; DROP VIEW _play_src")
    return pieces


def _create_play_segments_view(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""
        CREATE VIEW play_segments AS
        SELECT e.station, e.hour, e.play_id AS segment_play_id, coalesce(l.play_id, e.play_id) AS play_id,
               e.track_id, e.start, e."end", e.duration_s
        FROM (SELECT * FROM airplay_events WHERE {_good(_PLAY_CHECKS)}) e
        LEFT JOIN play_links l
            ON l.station = e.station AND l.track_id = e.track_id AND l.start = e.start
            AND l."end" = e."end" AND l.segment_play_id IS NOT DISTINCT FROM e.play_id
        """
    )


def _build_silences(con: duckdb.DuckDBPyConnection, scope: _Scope) -> int:
    con.execute(
        f"""
        CREATE TEMP VIEW _sil_src AS
        SELECT station, start, "end", duration_s, level_db, kind FROM {_src("silences")} AS s
        WHERE {_good(_SPAN_CHECKS)} AND ({scope.pieces})
        """
    )
    assign_events(con, "_sil_src", ["station"], "_sil_seg")
    pieces = con.execute("SELECT count(*) FROM _sil_seg").fetchone()[0]
    day = _UTC_DAY.format(col="min(start)")
    _write(
        con,
        "silence_events",
        f"""
        SELECT station, min(start) AS start, max("end") AS "end",
               sum(duration_s) AS duration_s, arg_max(kind, duration_s) AS kind,
               max(level_db) AS level_db, count(*) AS segments, {day} AS day
        FROM _sil_seg GROUP BY station, island, sub
        """,
        scope.replace,
    )
    drop_events(con, "_sil_seg")
    con.execute("DROP VIEW _sil_src")
    return pieces


_SEVERITY_RANK = "CASE severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END"


def _build_dead_air(con: duckdb.DuckDBPyConnection, scope: _Scope) -> int:
    con.execute(
        f"""
        CREATE TEMP VIEW _da_src AS
        SELECT station, alert_id, start, "end", duration_s, severity,
               classification, confidence, explanation, classifier, notified_at, notification_status,
               {_SEVERITY_RANK} AS severity_rank
        FROM {_src("dead_air_alerts")} AS s WHERE {_good(_SPAN_CHECKS)} AND ({scope.pieces})
        """
    )
    assign_events(con, "_da_src", ["station"], "_da_seg")
    pieces = con.execute("SELECT count(*) FROM _da_seg").fetchone()[0]
    day = _UTC_DAY.format(col="min(start)")
    _write(
        con,
        "dead_air_events",
        f"""
        SELECT station, arg_min(alert_id, start) AS alert_id,
               string_agg(DISTINCT alert_id, ',' ORDER BY alert_id) AS alert_ids,
               min(start) AS start, max("end") AS "end", sum(duration_s) AS duration_s,
               arg_max(severity, severity_rank) AS severity,
               CASE WHEN bool_or(classification = 'suspect') THEN 'suspect'
                    ELSE arg_min(classification, start) END AS classification,
               max(confidence) AS confidence, arg_min(explanation, start) AS explanation,
               arg_min(classifier, start) AS classifier, min(notified_at) AS notified_at,
               -- The part that was mailed speaks for the event; else one still waiting to be; else the first.
               -- (An earlier hour may call its 10 s "natural, not sent" while the next hour mails the event.)
               coalesce(arg_min(notification_status, notified_at) FILTER (WHERE notified_at IS NOT NULL),
                        arg_min(notification_status, start)
                            FILTER (WHERE NOT starts_with(notification_status, 'not_sent')),
                        arg_min(notification_status, start)) AS notification_status,
               count(*) AS segments, {day} AS day
        FROM _da_seg GROUP BY station, island, sub
        """,
        scope.replace,
        order=DEAD_AIR_ORDER,
    )
    drop_events(con, "_da_seg")
    con.execute("DROP VIEW _da_src")
    return pieces


@dataclass(frozen=True)
class _Family:
    """A stitched table family: its source asset, stitching key, row checks and builder."""

    table: str
    source: str
    key: tuple[str, ...]
    id_sql: str
    checks: list[tuple[str, str]]
    build: Callable[[duckdb.DuckDBPyConnection, _Scope], int]
    max_gap: timedelta = timedelta(seconds=1)  # `assign_events`' default, which every builder uses


_FAMILIES = (
    _Family("plays", "airplay_events", ("station", "track_id"), "play_id", _PLAY_CHECKS, _build_plays),
    _Family("silence_events", "silences", ("station",), "start", _SPAN_CHECKS, _build_silences),
    _Family("dead_air_events", "dead_air_alerts", ("station",), "alert_id", _SPAN_CHECKS, _build_dead_air),
)


def _in_files(paths: list[str]) -> str:
    """A `filename` condition DuckDB uses to skip the other files."""
    return f"filename IN ({', '.join(_q(p) for p in paths)})" if paths else "false"


_DAY_FILE_COLUMNS = (
    ("asset", "VARCHAR"),
    ("path", "VARCHAR"),
    ("day", "DATE"),
    ("size", "BIGINT"),
    ("mtime_ns", "BIGINT"),
    ("min_start", "TIMESTAMPTZ"),
    ("max_end", "TIMESTAMPTZ"),
    ("misplaced", "BOOLEAN"),
)
_DAY_FILE_TYPES = (
    pa.string(),
    pa.string(),
    pa.date32(),
    pa.int64(),
    pa.int64(),
    pa.timestamp("us", tz="UTC"),
    pa.timestamp("us", tz="UTC"),
    pa.bool_(),
)


def _record_day_files(
    con: duckdb.DuckDBPyConnection, family: _Family, files: list[DayFile], where: str
) -> None:
    """Add `files` to `_day_files` with the time bounds of their good rows (`where` selects them)."""
    if not files:
        return
    bounds = {
        path: (low, high)
        for path, low, high in con.execute(
            f"""
            SELECT filename, min(start), max("end") FROM {_src(family.source)}
            WHERE ({where}) AND {_good(family.checks)} GROUP BY filename
            """
        ).fetchall()
    }
    rows = []
    for f in files:
        low, high = bounds.get(f.path, (None, None))
        # Pieces outside their file's day would let an event cross a midnight the day-by-day plan
        # cannot see: such a source is re-stitched in full until the day is fixed.
        misplaced = f.day is None or (
            low is not None
            and (
                low < datetime.combine(f.day, datetime.min.time(), UTC)
                or high > datetime.combine(f.day + ONE_DAY, datetime.min.time(), UTC)
            )
        )
        rows.append((family.source, f.path, f.day, f.size, f.mtime_ns, low, high, misplaced))
    table = pa.table(
        [
            pa.array(column, kind)
            for column, kind in zip(zip(*rows, strict=True), _DAY_FILE_TYPES, strict=True)
        ],
        names=[name for name, _ in _DAY_FILE_COLUMNS],
    )
    # One insert of an Arrow table: executemany costs milliseconds a row (seconds for a year of days).
    con.register("_day_files_arrow", table)
    con.execute("INSERT INTO _day_files SELECT * FROM _day_files_arrow")
    con.unregister("_day_files_arrow")


def _crossing_keys(con: duckdb.DuckDBPyConnection, family: _Family, before: str, after: str) -> set[tuple]:
    """Keys with an island from the last pieces of file `before` into the first pieces of `after`."""
    keys = ", ".join(_ident(k) for k in family.key)
    gap_us = int(family.max_gap / timedelta(microseconds=1))
    good = _good(family.checks)
    return set(
        con.execute(
            f"""
            SELECT {keys} FROM
                (SELECT {keys}, max(epoch_us("end")) AS e FROM {_src(family.source)}
                 WHERE filename = {_q(before)} AND {good} GROUP BY ALL) p
            JOIN
                (SELECT {keys}, min(epoch_us(start)) AS s FROM {_src(family.source)}
                 WHERE filename = {_q(after)} AND {good} GROUP BY ALL) n
            USING ({keys})
            WHERE n.s - p.e <= {gap_us}
            """
        ).fetchall()
    )


def _days_sql(days: list[date]) -> str:
    """A condition on `{day}` (see `_Scope`): the day is one of `days`."""
    if not days:
        return "false"
    return "{day} IN (" + ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days)) + ")"


def _refresh_family(
    con: duckdb.DuckDBPyConnection,
    data_root: Path,
    family: _Family,
    incremental: bool,
    changed_tracks: int,
) -> TableRefresh:
    """Bring one stitched table (and its source's rejected rows and day files) up to date."""
    now_files = list_day_files(data_root, family.source)
    refresh = TableRefresh(family.table, family.source, full=not incremental, days=len(now_files))
    previous: dict[str, DayFile] = {}
    was_misplaced = False
    if incremental:
        for path, day, size, mtime_ns, misplaced in con.execute(
            "SELECT path, day, size, mtime_ns, misplaced FROM _day_files WHERE asset = ?", [family.source]
        ).fetchall():
            previous[path] = DayFile(path, day, size, mtime_ns)
            was_misplaced = was_misplaced or misplaced
    changes: ManifestDiff = diff(previous, now_files)
    stale = changes.changed_paths + changes.removed_paths
    if stale:
        con.execute(
            "DELETE FROM _day_files WHERE asset = ? AND list_contains(?, path)", [family.source, stale]
        )
    fresh = [now_files[p] for p in changes.changed_paths]
    _record_day_files(con, family, fresh, "true" if not incremental else _in_files(changes.changed_paths))
    refresh.changed_days = len(changes.changed_days)
    if incremental:
        misplaced_now = con.execute(
            "SELECT list(path) FROM _day_files WHERE asset = ? AND misplaced", [family.source]
        ).fetchone()[0]
        if was_misplaced or misplaced_now:
            refresh.full = True
            refresh.reason = (
                f"{family.source} has pieces outside their file's UTC day "
                f"({', '.join((misplaced_now or ['in the previous build'])[:3])})"
            )
    # Rejected rows are judged row by row: only the changed files' are redone.
    if refresh.full:
        con.execute("DELETE FROM _rejected_rows WHERE asset = ?", [family.source])
        _reject(con, family.source, family.id_sql, family.checks, "true")
    elif stale:
        con.execute(
            "DELETE FROM _rejected_rows WHERE asset = ? AND list_contains(?, path)", [family.source, stale]
        )
        _reject(con, family.source, family.id_sql, family.checks, _in_files(changes.changed_paths))
    if refresh.full:
        refresh.pieces = family.build(con, _Scope(replace=None))
        refresh.days_restitched = len(now_files)
        return refresh
    if not changes.empty:
        by_day = {f.day: f.path for f in now_files.values() if f.day is not None}
        dated = [f.day for f in [*previous.values(), *now_files.values()] if f.day is not None]

        def crossing(day: date) -> set[tuple]:
            before, after = by_day.get(day - ONE_DAY), by_day.get(day)
            return _crossing_keys(con, family, before, after) if before and after else set()

        base = base_days(changes.changed_days, min(dated), max(dated))
        extended = extend_keys(base, crossing)
        refresh.ranges = runs(base)
        refresh.days_restitched = len(base)
        refresh.extended = {"/".join(map(str, k)): sorted(v) for k, v in extended.items()}
        files = [by_day[d] for d in sorted(base) if d in by_day]
        # Some keys also take a few more days: (key..., day, path) rows, matched on key and file.
        key_days = [(*k, d, by_day[d]) for k, days in extended.items() for d in days if d in by_day]
        columns = list(zip(*key_days, strict=True)) if key_days else [[] for _ in range(len(family.key) + 2)]
        con.register(
            "_extended_arrow",
            pa.table(
                {
                    **{k: pa.array(columns[i], pa.string()) for i, k in enumerate(family.key)},
                    "day": pa.array(columns[-2], pa.date32()),
                    "path": pa.array(columns[-1], pa.string()),
                }
            ),
        )
        con.execute("CREATE OR REPLACE TEMP TABLE _extended AS SELECT * FROM _extended_arrow")
        con.unregister("_extended_arrow")
        match = " AND ".join(f"e.{_ident(k)} = {{alias}}.{_ident(k)}" for k in family.key)
        pieces = (
            f"{_in_files(sorted(set(files) | {row[-1] for row in key_days}))} AND ({_in_files(files)} "
            f"OR EXISTS (SELECT 1 FROM _extended e WHERE {match.format(alias='s')} AND e.path = s.filename))"
        )
        replace = (
            f"{_days_sql(sorted(base))} OR EXISTS (SELECT 1 FROM _extended e "
            f"WHERE {match.format(alias='t')} AND e.day = {{day}})"
        )
        refresh.pieces = family.build(con, _Scope(pieces=pieces, replace=replace))
        con.execute("DROP TABLE _extended")
    if family.table == "plays" and changed_tracks:
        # Plays carry catalogue columns: a track whose entry changed is re-stitched on every day. The
        # stitching key includes the track, so its plays are independent of every other track's.
        refresh.tracks = changed_tracks
        in_tracks = "track_id IN (SELECT track_id FROM _changed_tracks)"
        refresh.pieces += family.build(con, _Scope(pieces=in_tracks, replace=in_tracks))
    return refresh


def _changed_tracks(con: duckdb.DuckDBPyConnection) -> int:
    """`_changed_tracks`: tracks whose catalogue columns used by `plays` differ from the last build's."""
    columns = ", ".join(["track_id", "title", "artist", "isrc", *RIGHTS_HOLDER_COLUMNS])
    con.execute(
        f"""
        CREATE TEMP TABLE _changed_tracks AS
        SELECT DISTINCT track_id FROM (
            (SELECT {columns} FROM catalogue EXCEPT SELECT {columns} FROM _catalogue_previous)
            UNION ALL
            (SELECT {columns} FROM _catalogue_previous EXCEPT SELECT {columns} FROM catalogue)
        )
        """
    )
    con.execute("DROP TABLE _catalogue_previous")
    return con.execute("SELECT count(*) FROM _changed_tracks").fetchone()[0]


def _copy_database(source: Path, target: Path) -> None:
    """A reflink where the filesystem has them (btrfs, XFS: no data copied), else a byte copy."""
    ficlone = 0x40049409  # linux/fs.h FICLONE
    with open(source, "rb") as src, open(target, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), ficlone, src.fileno())
            return
        except OSError:
            pass
    shutil.copyfile(source, target)


def _previous_build(con: duckdb.DuckDBPyConnection, data_root: Path) -> str | None:
    """Why the copied database cannot be patched, or None when it can."""
    try:
        info = build_info(con)
    except duckdb.Error:
        return "the previous database has no build_info"
    if info.get("schema_version") != SCHEMA_VERSION:
        return f"the previous database has schema version {info.get('schema_version')}, not {SCHEMA_VERSION}"
    if info.get("data_root_resolved") != str(data_root.resolve()):
        return f"the previous database was built for {info.get('data_root')} (its views name those files)"
    return None


def rebuild(
    settings: PigeSettings | None = None,
    *,
    compact: bool = True,
    full: bool = False,
    now: datetime | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> RebuildResult:
    """Compact the hourly trees, build the database under a temporary name and swap it in.

    Incremental by default: the live database is copied and only what changed since it was built is
    redone. `full=True` recompacts every day and builds the database from nothing; `compact=False`
    uses the compacted tree as it is. `memory_limit` (DuckDB's, such as "8GB") keeps a full rebuild of
    a long history from taking the machine's memory: DuckDB spills to disk beyond it.
    """
    settings = settings or PigeSettings.from_env()
    data_root = settings.data_root
    now = now or datetime.now(UTC)
    live = db_path(data_root)
    tmp = live.with_name(DB_NAME + ".tmp")
    started = time.monotonic()
    laps = _Laps()
    problems: list[dict[str, str]] = []
    with _writer_lock(live.parent):
        laps.lap("lock")
        compaction: list[CompactionResult] = []
        if compact:
            for asset in hourly_assets(data_root):
                if asset not in NOT_COMPACTED:
                    compaction.append(
                        compact_asset(data_root, asset, threads=threads or os.cpu_count() or 2, full=full)
                    )
        for result in compaction:
            problems.extend(result.problems)
        compaction_seconds = time.monotonic() - started
        laps.lap("compaction")
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        config: dict[str, str | int] = {"threads": threads} if threads else {}
        if memory_limit:
            config["memory_limit"] = memory_limit
        reason = "asked for" if full else "" if live.exists() else "no previous database"
        con: duckdb.DuckDBPyConnection | None = None
        if not reason:
            # The live file is only ever replaced whole, never written: copying it gives the last build.
            _copy_database(live, tmp)
            try:
                con = duckdb.connect(str(tmp), config=config)
                reason = _previous_build(con, data_root) or ""
            except duckdb.Error as exc:
                reason = f"the previous database cannot be opened ({exc})"
            if reason:
                if con is not None:
                    con.close()
                    con = None
                tmp.unlink(missing_ok=True)
        incremental = not reason
        if con is None:
            con = duckdb.connect(str(tmp), config=config)
        laps.lap("copy previous database")
        refreshes: dict[str, TableRefresh] = {}
        try:
            con.execute("SET TimeZone = 'UTC'")
            # Tables are written from both cores in any row order (readers always say ORDER BY), except
            # where `_write` is given an order: a query's ORDER BY is kept in the stored table.
            con.execute("SET preserve_insertion_order = false")
            # The stitched sources are read several times per build (checks, day bounds, cuts).
            con.execute("SET parquet_metadata_cache = true")
            if incremental:
                _drop_rebuilt_objects(con)
            else:
                con.execute(
                    "CREATE TABLE _rejected_rows "
                    "(asset VARCHAR, path VARCHAR, station VARCHAR, hour VARCHAR, problem VARCHAR)"
                )
                con.execute(
                    "CREATE TABLE _day_files ("
                    + ", ".join(f"{name} {kind}" for name, kind in _DAY_FILE_COLUMNS)
                    + ")"
                )
            views = _create_views(con, data_root, problems)
            _load_stations_table(con, settings, problems)
            known_rights = _load_catalogue(con, settings, problems)
            gap_files_parsed, gap_problems = refresh_gaps(con, data_root, now, incremental)
            changed_tracks = _changed_tracks(con) if incremental else 0
            laps.lap("views, stations, catalogue, gaps")
            for family in _FAMILIES:
                refreshes[family.table] = _refresh_family(con, data_root, family, incremental, changed_tracks)
                if family.table in ("plays", "dead_air_events"):
                    fill_sources(con, data_root, family.table)  # the chunk files each line was heard in
                if family.table == "plays":
                    _create_play_segments_view(con)
                    views["play_segments"] = "derived"  # airplay_events with their stitched play_id
                laps.lap(family.table)
            con.execute(
                "CREATE TABLE problems AS SELECT asset, station, hour, problem FROM _rejected_rows "
                "ORDER BY asset, path, station, hour"
            )
            problems.extend(gap_problems)
            if problems:
                con.register(
                    "_problems", pd.DataFrame(problems, columns=["asset", "station", "hour", "problem"])
                )
                con.execute("INSERT INTO problems SELECT * FROM _problems")
                con.unregister("_problems")
            problems = con.execute("SELECT * FROM problems").fetchdf().to_dict("records")
            tables = {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLES}
            info = {
                "built_at": now.isoformat(),
                "data_root": str(data_root),
                "data_root_resolved": str(data_root.resolve()),
                "schema_version": SCHEMA_VERSION,
                "mode": "incremental" if incremental else "full",
                "full_reason": reason,
                "days_restitched": {name: r.days_restitched for name, r in refreshes.items()},
                "rights_holder_columns": known_rights,
                "views": views,
                "tables": tables,
                "problems": len(problems),
            }
            con.execute("CREATE TABLE build_info (key VARCHAR, value VARCHAR)")
            con.executemany(
                "INSERT INTO build_info VALUES (?, ?)", [(k, json.dumps(v)) for k, v in info.items()]
            )
            con.execute("CHECKPOINT")
        finally:
            con.close()
        laps.lap("problems, counts, checkpoint")
        os.replace(tmp, live)
        laps.lap("swap")
    return RebuildResult(
        path=live,
        seconds=time.monotonic() - started,
        compaction_seconds=compaction_seconds,
        tables=tables,
        views=views,
        compaction=compaction,
        problems=problems,
        phases=laps.seconds,
        mode="incremental" if incremental else "full",
        reason=reason,
        refreshes=refreshes,
        gap_files_parsed=gap_files_parsed,
    )


def build_info(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """The `build_info` table as a dict (built_at, rights_holder_columns, views, tables, problems)."""
    return {
        key: json.loads(value) for key, value in con.execute("SELECT key, value FROM build_info").fetchall()
    }
