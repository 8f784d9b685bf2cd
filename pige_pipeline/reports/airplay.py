"""The airplay statement: the cue sheet a copyright society distributes royalties from.

Per station and per rights holder: track, artist, ISRC, plays, seconds aired, first and last play.
A play is a stitched event from the `plays` table; it counts once, whole, in the period where it
started (a play across midnight or a month end belongs to the day or month it began in). Periods are
the station's own days and months (its `timezone` in stations.yaml), or UTC ones when asked. `seconds`
is the sum of the play's `airplay_events` pieces, so the statement reconciles exactly with them.
Every play is listed with its source (chunk files and offsets), and the page plays each line's audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import pandas as pd

from pige_pipeline.analytics.build import build_info
from pige_pipeline.reports.clips import CLIP_COLUMN, clip_column
from pige_pipeline.reports.html import Section, figure_png, render_page, table_html
from pige_pipeline.reports.output import ReportOutput, report_dir, write_report
from pige_pipeline.reports.periods import (
    Period,
    outer_bounds,
    register_bounds,
    station_times,
    unfinished_note,
    zones_text,
)

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
    plays: pd.DataFrame  # every play of the period, with its source
    bounds: pd.DataFrame  # each station's period (periods.register_bounds)
    utc: bool = False
    notes: list[str] = field(default_factory=list)


_IN_PERIOD = "start >= period_start AND start < period_end AND start >= ? AND start < ?"
_PERIOD_PLAYS = f"SELECT plays.* FROM plays JOIN _period USING (station) WHERE {_IN_PERIOD}"


def statement(
    con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None, utc: bool = False
) -> Statement:
    """Compute the statement for a day or a month (each station's own, or UTC), all stations or one."""
    bounds = register_bounds(con, period, station, utc)
    params: list[object] = list(outer_bounds(bounds, period))
    by_station = con.execute(
        f"""
        SELECT station, track_id, arg_min(title, start) AS title, arg_min(artist, start) AS artist,
               arg_min(isrc, start) AS isrc, count(*) AS plays, round(sum(seconds), 3) AS seconds,
               min(start) AS first_play, max(start) AS last_play, arg_min(play_id, start) AS first_play_id
        FROM ({_PERIOD_PLAYS})
        GROUP BY station, track_id ORDER BY station, plays DESC, seconds DESC, track_id
        """,
        params,
    ).fetchdf()
    plays = con.execute(
        f"""
        SELECT station, play_id, track_id, title, artist, isrc, start, "end", round(seconds, 3) AS seconds,
               segments, round(confidence, 3) AS confidence, source_files, source_start_s, source_end_s
        FROM ({_PERIOD_PLAYS}) ORDER BY station, start, track_id
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
        WITH p AS ({_PERIOD_PLAYS}), h AS ({holders})
        SELECT role, rights_holder, track_id, arg_min(title, start) AS title,
               arg_min(artist, start) AS artist, arg_min(isrc, start) AS isrc,
               count(*) AS plays, round(sum(seconds), 3) AS seconds, count(DISTINCT station) AS stations,
               min(start) AS first_play, max(start) AS last_play
        FROM h GROUP BY role, rights_holder, track_id
        ORDER BY role, rights_holder, plays DESC, track_id
        """,
        params,
    ).fetchdf()
    notes += unfinished_note(bounds, period)
    return Statement(period, station, by_station, by_holder, plays, bounds, utc, notes)


def reconcile(
    con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None, utc: bool = False
) -> pd.DataFrame:
    """Rows where the statement and `airplay_events` disagree (plays or seconds per station and track).

    The expected side is computed from `airplay_events` alone, without the stitched tables: a play
    starts with a piece that does not continue from the previous hour, and a piece belongs to the play
    before it while `continues_from_previous_hour` holds. An empty frame means the statement reconciles.
    """
    params: list[object] = list(outer_bounds(register_bounds(con, period, station, utc), period))
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
        FROM whole JOIN _period USING (station) WHERE {_IN_PERIOD}
        GROUP BY station, track_id
        """,
        params,
    ).fetchdf()
    got = statement(con, period, station, utc).by_station[["station", "track_id", "plays", "seconds"]]
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


STATION_PAGE_COLUMNS = ["station", "title", "artist", "isrc", "plays", "seconds", "first_play", CLIP_COLUMN]
PLAY_PAGE_COLUMNS = ["station", "start", "end", "seconds", "title", "artist", "confidence", CLIP_COLUMN]
PLAYS_ON_PAGE = 200


def write_statement(
    data_root: Path,
    con: duckdb.DuckDBPyConnection,
    period: Period,
    station: str | None = None,
    formats: tuple[str, ...] = ("csv", "parquet", "html"),
    utc: bool = False,
    clips: bool = True,
) -> ReportOutput:
    """Write `reports/airplay/{daily|monthly}/{period}[/stations/{station}]/` and return what was written.

    `statement_plays` lists every play with its source; the page plays each line's first play and
    the first plays of the period (`clips=False`: it gives the command that cuts them instead).
    """
    st = statement(con, period, station, utc)
    directory = report_dir(data_root, REPORT, f"{period.cadence}/{period.label}", station)
    tables = {
        "statement_by_station": st.by_station,
        "statement_by_rights_holder": st.by_rights_holder,
        "statement_plays": st.plays,
    }

    def page() -> str:
        scope = f"station {station}" if station else "all stations"
        kpis = {
            "plays": int(st.by_station["plays"].sum()),
            "hours aired": f"{st.by_station['seconds'].sum() / 3600:.1f}",
            "distinct tracks": st.by_station["track_id"].nunique(),
            "stations": st.by_station["station"].nunique(),
        }
        # One clip per play, shared by its statement line (the line's first play) and the plays table.
        wanted = set(st.plays["play_id"].head(PLAYS_ON_PAGE)) | set(st.by_station["first_play_id"].head(200))
        chosen = st.plays[st.plays["play_id"].isin(wanted)]
        label = chosen["artist"].fillna("") + " - " + chosen["title"].fillna(chosen["track_id"])
        cells = dict(
            zip(
                chosen["play_id"],
                clip_column(data_root, directory, chosen, "play", "play_id", label, clips, len(chosen)),
                strict=True,
            )
        )
        plays = station_times(st.plays, st.bounds, ("start", "end"))
        plays[CLIP_COLUMN] = st.plays["play_id"].map(cells).fillna("")
        by_station = station_times(st.by_station, st.bounds, ("first_play", "last_play"))
        by_station[CLIP_COLUMN] = st.by_station["first_play_id"].map(cells).fillna("")
        sections = [
            Section(
                "Statement per station",
                text="Each line's clip is its first play of the period, with 5 s before and after.",
                table=table_html(by_station[STATION_PAGE_COLUMNS], raw_columns=(CLIP_COLUMN,)),
            ),
            *_charts(st),
            Section(
                "Statement per rights holder",
                text="First and last plays in UTC (a rights holder's plays span stations and time zones).",
                table=table_html(st.by_rights_holder),
            ),
            Section(
                "Every play, with its audio",
                text="The chunk files and offsets of every play are in statement_plays.csv.",
                table=table_html(
                    plays[PLAY_PAGE_COLUMNS], max_rows=PLAYS_ON_PAGE, raw_columns=(CLIP_COLUMN,)
                ),
            ),
        ]
        subtitle = f"{scope}, {period.kind}s in {zones_text(st.bounds, utc)}"
        return render_page(f"Airplay statement {period.label}", subtitle, sections, st.notes, kpis)

    return write_report(REPORT, period.label, directory, tables, formats, page, st.by_station, st.notes)
