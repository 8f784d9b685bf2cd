"""Build `analytics/analytics.duckdb`: views over every hourly asset plus the tables reports need.

One writer builds `analytics.duckdb.tmp` and `os.replace`s it over the live file. DuckDB lets only one
process open a file for writing, and even a read-only reader blocks a writer on the same file; the
writer here never opens the live file, so an open notebook never blocks the pipeline, and a reader
keeps the old inode (a complete snapshot) until it reconnects. A lock file serialises writers.

Paths inside views are absolute (resolved at build time), so the database works from any client and
any working directory. Moving the data root means rebuilding (`pige analytics rebuild`).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from pige_pipeline.gaps import Gap
from pige_pipeline.settings import PigeSettings
from pige_pipeline.stations import StationsFileError, load_stations

DB_NAME = "analytics.duckdb"

# Tables the rebuild materialises; everything else is a view over Parquet (`play_segments` is a view
# over `airplay_events` and `play_links`).
TABLES = ("stations", "catalogue", "gaps", "plays", "play_links", "silence_events", "dead_air_events")


class AnalyticsNotBuiltError(FileNotFoundError):
    """The analytics database has not been built yet for this data root."""


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


def _asset_view(con: duckdb.DuckDBPyConnection, name: str, glob: str, problems: list[dict[str, str]]) -> None:
    source = f"read_parquet({_q(glob)}, hive_partitioning = false, union_by_name = true)"
    con.execute(f"CREATE VIEW {_ident(name)} AS SELECT * FROM {source}")
    schema = ASSET_SCHEMAS.get(name)
    if schema is None:
        return
    present = {row[0] for row in con.execute(f"DESCRIBE {_ident(name)}").fetchall()}
    missing = [f for f in schema if f.name not in present]
    if not missing:
        return
    # Reports query the documented core columns; a file set without one still gets a view, padded
    # with NULLs, and the gap is reported so the owning domain can fix its schema.
    pads = ", ".join(f"CAST(NULL AS {_duckdb_type(con, f.type)}) AS {_ident(f.name)}" for f in missing)
    con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS SELECT *, {pads} FROM {source}")
    problems.append(
        {
            "asset": name,
            "station": "",
            "hour": "",
            "problem": f"{name}: core columns missing from its Parquet files: "
            f"{', '.join(f.name for f in missing)} (see docs/architecture.md); they read as NULL",
        }
    )


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


def _load_gaps(
    con: duckdb.DuckDBPyConnection, data_root: Path, now: datetime, problems: list[dict[str, str]]
) -> None:
    latest: dict[tuple[str, datetime], Gap] = {}
    root = data_root / "recorder" / "gaps"
    for path in sorted(root.glob("*/*.jsonl")) if root.is_dir() else []:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                gap = Gap.from_json(line)
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(
                    {
                        "asset": "gaps",
                        "station": path.parent.name,
                        "hour": "",
                        "problem": f"{path}:{number}: not a gap record ({exc}); the line is skipped",
                    }
                )
                continue
            latest[(gap.station, gap.start)] = gap
    rows = [
        {
            "station": g.station,
            "start": g.start,
            "end": g.end,
            "open": g.end is None,
            "end_or_now": g.end or now,
            "duration_s": ((g.end or now) - g.start).total_seconds(),
            "cause": g.cause,
            "detail": g.detail,
        }
        for g in latest.values()
    ]
    ts = pa.timestamp("us", tz="UTC")
    schema = pa.schema(
        [
            ("station", pa.string()),
            ("start", ts),
            ("end", ts),
            ("open", pa.bool_()),
            ("end_or_now", ts),
            ("duration_s", pa.float64()),
            ("cause", pa.string()),
            ("detail", pa.string()),
        ]
    )
    con.register("_gaps", pa.Table.from_pylist(rows, schema=schema))
    con.execute("CREATE TABLE gaps AS SELECT * FROM _gaps ORDER BY station, start")
    con.unregister("_gaps")


_UTC_DAY = "CAST(timezone('UTC', {col}) AS DATE)"


def _reject(con: duckdb.DuckDBPyConnection, asset: str, id_sql: str, checks: list[tuple[str, str]]) -> str:
    """Record rows failing `checks` (SQL condition, reason) as problems; returns the WHERE for good rows."""
    if not checks:
        return "true"
    reasons = ", ".join(f"CASE WHEN {condition} THEN {_q(reason)} END" for condition, reason in checks)
    # One scan of the asset for every check: a year of airplay_events is 6.9 M rows.
    con.execute(
        f"""
        INSERT INTO problems
        SELECT {_q(asset)}, coalesce(station, ''), coalesce(CAST(hour AS VARCHAR), ''),
               {_q(asset)} || ' row ' || coalesce(CAST(_id AS VARCHAR), '?') || ' of station '
               || coalesce(station, '?') || ' at ' || coalesce(CAST(hour AS VARCHAR), '?') || ': '
               || _reason || '; re-run that hour to fix it'
        FROM (
            SELECT station, hour, {id_sql} AS _id, unnest([{reasons}]) AS _reason
            FROM {_ident(asset)} WHERE {" OR ".join(f"({condition})" for condition, _ in checks)}
        )
        WHERE _reason IS NOT NULL
        """
    )
    return " AND ".join(f"NOT coalesce({condition}, true)" for condition, _ in checks)


_SPAN_CHECKS = [
    ('station IS NULL OR start IS NULL OR "end" IS NULL', "station, start or end is empty"),
    ('"end" < start', "end is before start"),
    ("duration_s IS NULL OR duration_s < 0", "duration_s is empty or negative"),
]


def _build_plays(con: duckdb.DuckDBPyConnection) -> None:
    good = _reject(
        con,
        "airplay_events",
        "play_id",
        [*_SPAN_CHECKS, ("track_id IS NULL", "track_id is empty")],
    )
    con.execute(
        f"""
        CREATE TEMP VIEW _play_src AS
        SELECT station, hour, play_id, track_id, title, artist, isrc, start, "end", duration_s,
               ref_offset_s, score, confidence
        FROM airplay_events WHERE {good}
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
    rights = ", ".join(f"c.{c}" for c in RIGHTS_HOLDER_COLUMNS)
    day = _UTC_DAY.format(col="p.start")
    con.execute(
        """
        CREATE TEMP TABLE _play_multi AS
        SELECT station, track_id, island, sub,
               arg_min(play_id, start) AS play_id,
               arg_min(title, start) AS title, arg_min(artist, start) AS artist,
               arg_min(isrc, start) AS isrc,
               min(start) AS start, max("end") AS "end",
               sum(duration_s) AS seconds, count(*) AS segments,
               max(score) AS score, max(confidence) AS confidence
        FROM _play_seg WHERE NOT alone GROUP BY station, track_id, island, sub
        """
    )
    # A lone piece is a whole play (95% of them): only plays of several pieces were grouped.
    con.execute(
        f"""
        CREATE TABLE plays AS
        WITH events AS (
            SELECT play_id, station, track_id, title, artist, isrc, start, "end",
                   duration_s AS seconds, 1::BIGINT AS segments, score, confidence
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
        """
    )
    # Only the pieces of plays in several pieces need their play named; `play_segments` is a view
    # that gives every other piece its own play_id, so the 6.9 M pieces of a year are not copied.
    con.execute(
        """
        CREATE TABLE play_links AS
        SELECT s.station, s.track_id, s.start, s."end", s.play_id AS segment_play_id,
               any_value(m.play_id) AS play_id
        FROM _play_seg s JOIN _play_multi m USING (station, track_id, island, sub)
        WHERE NOT s.alone
        GROUP BY ALL
        """
    )
    con.execute(
        f"""
        CREATE VIEW play_segments AS
        SELECT e.station, e.hour, e.play_id AS segment_play_id, coalesce(l.play_id, e.play_id) AS play_id,
               e.track_id, e.start, e."end", e.duration_s
        FROM (SELECT * FROM airplay_events WHERE {good}) e
        LEFT JOIN play_links l
            ON l.station = e.station AND l.track_id = e.track_id AND l.start = e.start
            AND l."end" = e."end" AND l.segment_play_id IS NOT DISTINCT FROM e.play_id
        """
    )
    drop_events(con, "_play_seg")
    con.execute("DROP TABLE _play_multi; DROP VIEW _play_src")


def _build_silences(con: duckdb.DuckDBPyConnection) -> None:
    good = _reject(con, "silences", "start", _SPAN_CHECKS)
    con.execute(
        f"""
        CREATE TEMP VIEW _sil_src AS
        SELECT station, start, "end", duration_s, level_db, kind FROM silences WHERE {good}
        """
    )
    assign_events(con, "_sil_src", ["station"], "_sil_seg")
    day = _UTC_DAY.format(col="min(start)")
    con.execute(
        f"""
        CREATE TABLE silence_events AS
        SELECT station, min(start) AS start, max("end") AS "end",
               sum(duration_s) AS duration_s, arg_max(kind, duration_s) AS kind,
               max(level_db) AS level_db, count(*) AS segments, {day} AS day
        FROM _sil_seg GROUP BY station, island, sub
        """
    )
    drop_events(con, "_sil_seg")
    con.execute("DROP VIEW _sil_src")


_SEVERITY_RANK = "CASE severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END"


def _build_dead_air(con: duckdb.DuckDBPyConnection) -> None:
    good = _reject(con, "dead_air_alerts", "alert_id", _SPAN_CHECKS)
    con.execute(
        f"""
        CREATE TEMP VIEW _da_src AS
        SELECT station, alert_id, start, "end", duration_s, severity,
               classification, confidence, explanation, classifier, notified_at, notification_status,
               {_SEVERITY_RANK} AS severity_rank
        FROM dead_air_alerts WHERE {good}
        """
    )
    assign_events(con, "_da_src", ["station"], "_da_seg")
    day = _UTC_DAY.format(col="min(start)")
    con.execute(
        f"""
        CREATE TABLE dead_air_events AS
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
        """
    )
    drop_events(con, "_da_seg")
    con.execute("DROP VIEW _da_src")


def rebuild(
    settings: PigeSettings | None = None,
    *,
    compact: bool = True,
    full: bool = False,
    now: datetime | None = None,
    threads: int | None = None,
) -> RebuildResult:
    """Compact the hourly trees, build the database under a temporary name and swap it in.

    `compact=False` uses the compacted tree as it is; `full=True` recompacts every day.
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
        config = {"threads": threads} if threads else {}
        con = duckdb.connect(str(tmp), config=config)
        try:
            con.execute("SET TimeZone = 'UTC'")
            # Tables are written from both cores in any row order: readers always say ORDER BY.
            con.execute("SET preserve_insertion_order = false")
            con.execute(
                "CREATE TABLE problems (asset VARCHAR, station VARCHAR, hour VARCHAR, problem VARCHAR)"
            )
            views = _create_views(con, data_root, problems)
            _load_stations_table(con, settings, problems)
            known_rights = _load_catalogue(con, settings, problems)
            _load_gaps(con, data_root, now, problems)
            laps.lap("views, stations, catalogue, gaps")
            _build_plays(con)
            views["play_segments"] = "derived"  # airplay_events with their stitched play_id
            laps.lap("plays")
            _build_silences(con)
            laps.lap("silence_events")
            _build_dead_air(con)
            laps.lap("dead_air_events")
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
    )


def build_info(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """The `build_info` table as a dict (built_at, rights_holder_columns, views, tables, problems)."""
    return {
        key: json.loads(value) for key, value in con.execute("SELECT key, value FROM build_info").fetchall()
    }
