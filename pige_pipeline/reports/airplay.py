"""The airplay statement: the cue sheet a copyright society distributes royalties from.

Per station and per rights holder: track, artist, ISRC, plays, seconds aired, first and last play.
A play is a stitched event from the `plays` table; it counts once, whole, in the period where it
started (a play across midnight or a month end belongs to the day or month it began in). `seconds`
is the sum of the play's `airplay_events` pieces, so the statement reconciles exactly with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import pandas as pd

from pige_pipeline.analytics.build import build_info
from pige_pipeline.reports.html import Section, figure_png, render_page, table_html
from pige_pipeline.reports.output import ReportOutput, report_dir, write_report
from pige_pipeline.reports.periods import Period

REPORT = "airplay"
NO_RIGHTS_NOTE = (
    "The catalogue has no publisher, label or composer column: the per-rights-holder statement is "
    "grouped by artist instead. Add those columns to catalogue.csv for a rights-holder statement."
)


@dataclass
class Statement:
    period: Period
    station: str | None
    by_station: pd.DataFrame
    by_rights_holder: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _where(period: Period, station: str | None) -> tuple[str, list[object]]:
    sql = "day >= ? AND day < ?"
    params: list[object] = [period.first, period.after]
    if station:
        sql += " AND station = ?"
        params.append(station)
    return sql, params


def statement(con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None) -> Statement:
    """Compute the statement for a day or a month, all stations or one."""
    where, params = _where(period, station)
    by_station = con.execute(
        f"""
        SELECT station, track_id, arg_min(title, start) AS title, arg_min(artist, start) AS artist,
               arg_min(isrc, start) AS isrc, count(*) AS plays, round(sum(seconds), 3) AS seconds,
               min(start) AS first_play, max(start) AS last_play
        FROM plays WHERE {where}
        GROUP BY station, track_id ORDER BY station, plays DESC, seconds DESC, track_id
        """,
        params,
    ).fetchdf()
    rights = [c for c in build_info(con).get("rights_holder_columns", []) if c]
    notes: list[str] = []
    if rights:
        parts = [
            f"SELECT '{c}' AS role, {c} AS rights_holder, * FROM p WHERE {c} IS NOT NULL" for c in rights
        ]
        parts.append(
            "SELECT 'unassigned' AS role, '(none in the catalogue)' AS rights_holder, * FROM p WHERE "
            + " AND ".join(f"{c} IS NULL" for c in rights)
        )
        holders = " UNION ALL ".join(parts)
    else:
        notes.append(NO_RIGHTS_NOTE)
        holders = "SELECT 'artist' AS role, coalesce(artist, '(unknown artist)') AS rights_holder, * FROM p"
    by_holder = con.execute(
        f"""
        WITH p AS (SELECT * FROM plays WHERE {where}), h AS ({holders})
        SELECT role, rights_holder, track_id, arg_min(title, start) AS title,
               arg_min(artist, start) AS artist, arg_min(isrc, start) AS isrc,
               count(*) AS plays, round(sum(seconds), 3) AS seconds, count(DISTINCT station) AS stations,
               min(start) AS first_play, max(start) AS last_play
        FROM h GROUP BY role, rights_holder, track_id
        ORDER BY role, rights_holder, plays DESC, track_id
        """,
        params,
    ).fetchdf()
    return Statement(period, station, by_station, by_holder, notes)


def reconcile(con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None) -> pd.DataFrame:
    """Rows where the statement and `airplay_events` disagree (plays or seconds per station and track).

    The expected side is computed from `airplay_events` alone, without the stitched tables: a play
    starts with a piece that does not continue from the previous hour, and a piece belongs to the play
    before it while `continues_from_previous_hour` holds. An empty frame means the statement reconciles.
    """
    where_events = "" if not station else "AND station = ?"
    params: list[object] = [period.start, period.end]
    if station:
        params.append(station)
    expected = con.execute(
        f"""
        WITH e AS (
            SELECT station, track_id, start, duration_s, coalesce(continues_from_previous_hour, false) AS cont
            FROM airplay_events
            WHERE track_id IS NOT NULL AND start IS NOT NULL AND "end" >= start AND duration_s >= 0
        ), numbered AS (
            SELECT *, sum(CASE WHEN cont THEN 0 ELSE 1 END) OVER (
                PARTITION BY station, track_id ORDER BY start ROWS UNBOUNDED PRECEDING) AS play_seq
            FROM e
        ), whole AS (
            SELECT station, track_id, play_seq, min(start) AS start, sum(duration_s) AS seconds
            FROM numbered GROUP BY ALL
        )
        SELECT station, track_id, count(*) AS events_plays, round(sum(seconds), 3) AS events_seconds
        FROM whole WHERE start >= ? AND start < ? {where_events}
        GROUP BY station, track_id
        """,
        params,
    ).fetchdf()
    got = statement(con, period, station).by_station[["station", "track_id", "plays", "seconds"]]
    merged = expected.merge(got, on=["station", "track_id"], how="outer").fillna(0)
    bad = (merged["plays"] != merged["events_plays"]) | (
        (merged["seconds"] - merged["events_seconds"]).abs() > 0.01
    )
    return merged[bad].reset_index(drop=True)


def _charts(st: Statement) -> list[Section]:
    sections: list[Section] = []
    by_track = (
        st.by_station.groupby(["track_id", "title", "artist"], dropna=False)[["plays", "seconds"]]
        .sum()
        .reset_index()
        .sort_values("plays", ascending=False)
        .head(15)
    )
    if not by_track.empty:
        fig, ax = plt.subplots(figsize=(10, 0.35 * len(by_track) + 1))
        labels = [f"{a} - {t}" for a, t in zip(by_track["artist"], by_track["title"], strict=True)]
        ax.barh(labels[::-1], by_track["plays"].to_numpy()[::-1], color="#3b6fb6")
        ax.set_xlabel("plays")
        ax.set_title("Most played tracks")
        sections.append(Section("Most played tracks", images=[figure_png(fig)]))
        per_station = st.by_station.groupby("station")[["plays", "seconds"]].sum().reset_index()
        fig, ax = plt.subplots(figsize=(10, 0.3 * len(per_station) + 1.2))
        ax.barh(per_station["station"], per_station["seconds"] / 3600.0, color="#58a55c")
        ax.set_xlabel("hours of catalogue music aired")
        ax.set_title("Music aired per station")
        sections.append(Section("Music aired per station", images=[figure_png(fig)]))
    return sections


def write_statement(
    data_root: Path,
    con: duckdb.DuckDBPyConnection,
    period: Period,
    station: str | None = None,
    formats: tuple[str, ...] = ("csv", "parquet", "html"),
) -> ReportOutput:
    """Write `reports/airplay/{daily|monthly}/{period}[/stations/{station}]/` and return what was written."""
    st = statement(con, period, station)
    directory = report_dir(data_root, REPORT, f"{period.cadence}/{period.label}", station)
    tables = {"statement_by_station": st.by_station, "statement_by_rights_holder": st.by_rights_holder}

    def page() -> str:
        scope = f"station {station}" if station else "all stations"
        kpis = {
            "plays": int(st.by_station["plays"].sum()),
            "hours aired": f"{st.by_station['seconds'].sum() / 3600:.1f}",
            "distinct tracks": st.by_station["track_id"].nunique(),
            "stations": st.by_station["station"].nunique(),
        }
        sections = _charts(st) + [
            Section("Statement per station", table=table_html(st.by_station)),
            Section("Statement per rights holder", table=table_html(st.by_rights_holder)),
        ]
        return render_page(f"Airplay statement {period.label}", scope, sections, st.notes, kpis)

    return write_report(REPORT, period.label, directory, tables, formats, page, st.by_station, st.notes)
