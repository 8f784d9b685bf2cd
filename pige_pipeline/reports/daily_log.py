"""The daily station log: per station, the day's timeline of music, speech and silence, the plays,
the dead air and the recording coverage (UTC day)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import pandas as pd

from pige_pipeline.reports.coverage import coverage_tables
from pige_pipeline.reports.dead_air import dead_air_tables
from pige_pipeline.reports.html import Section, figure_png, render_page, table_html
from pige_pipeline.reports.output import ReportOutput, report_dir, write_report
from pige_pipeline.reports.periods import Period

REPORT = "daily_log"
LANES = {"music": "#3b6fb6", "speech": "#58a55c", "silence": "#c0392b", "not_recorded": "#7f8c8d"}


def timeline(con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None) -> pd.DataFrame:
    """Music (plays), speech, silence and unrecorded stretches overlapping the day, clipped to it."""
    st = "AND station = ?" if station else ""
    p: list[object] = [station] if station else []
    bounds = [period.start, period.end]
    return con.execute(
        f"""
        WITH spans AS (
            SELECT station, 'music' AS kind, start, "end",
                   coalesce(artist || ' - ' || title, track_id) AS label
            FROM plays WHERE start < $2 AND "end" > $1 {st.replace("?", "$3")}
            UNION ALL
            SELECT station, 'speech', start, "end", '' FROM speech_segments
            WHERE kind = 'speech' AND start < $2 AND "end" > $1 {st.replace("?", "$3")}
            UNION ALL
            SELECT station, 'silence', start, "end", kind FROM silence_events
            WHERE start < $2 AND "end" > $1 {st.replace("?", "$3")}
            UNION ALL
            SELECT station, 'not_recorded', start, end_or_now, cause FROM gaps
            WHERE start < $2 AND end_or_now > $1 {st.replace("?", "$3")}
        )
        SELECT station, kind, greatest(start, $1) AS start, least("end", $2) AS "end",
               round(epoch(least("end", $2)) - epoch(greatest(start, $1)), 2) AS duration_s, label
        FROM spans ORDER BY station, start, kind
        """,
        bounds + p,
    ).fetchdf()


def daily_tables(
    con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None
) -> dict[str, pd.DataFrame]:
    st = " AND station = ?" if station else ""
    params: list[object] = [period.first, period.after] + ([station] if station else [])
    plays = con.execute(
        f"""
        SELECT station, start, "end", round(seconds, 1) AS seconds, track_id, title, artist, isrc,
               round(score, 3) AS score, segments
        FROM plays WHERE day >= ? AND day < ?{st} ORDER BY station, start
        """,
        params,
    ).fetchdf()
    coverage = coverage_tables(con, period, station)
    dead_air = dead_air_tables(con, period, station)
    return {
        "timeline": timeline(con, period, station),
        "plays": plays,
        "dead_air": dead_air["alerts"],
        "coverage": coverage["station_hours"],
        "gaps": coverage["gaps"],
        "summary": _summary(con, period, station, coverage["per_station"], dead_air["totals"]),
    }


def _summary(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    station: str | None,
    coverage: pd.DataFrame,
    dead_air: pd.DataFrame,
) -> pd.DataFrame:
    params: list[object] = [period.first, period.after] + ([station] if station else [])
    plays = con.execute(
        f"""
        SELECT station, count(*) AS plays, round(sum(seconds) / 60, 1) AS music_min
        FROM plays WHERE day >= ? AND day < ?{" AND station = ?" if station else ""} GROUP BY station
        """,
        params,
    ).fetchdf()
    summary = coverage[["station", "recorded_h", "coverage"]].merge(plays, on="station", how="left")
    summary = summary.merge(dead_air[["station", "alerts", "off_air_s"]], on="station", how="left")
    return summary.fillna({"plays": 0, "music_min": 0.0, "alerts": 0, "off_air_s": 0.0})


def _timeline_chart(frame: pd.DataFrame, period: Period, station: str) -> str:
    fig, ax = plt.subplots(figsize=(12, 1.9))
    for row, (kind, colour) in enumerate(LANES.items()):
        spans = frame[frame["kind"] == kind]
        starts = (spans["start"] - pd.Timestamp(period.start)).dt.total_seconds() / 3600
        ax.broken_barh(
            list(zip(starts, spans["duration_s"] / 3600, strict=True)), (row - 0.4, 0.8), color=colour
        )
    ax.set_yticks(range(len(LANES)), list(LANES))
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 2))
    ax.set_xlabel("hour of the day (UTC)")
    ax.invert_yaxis()
    ax.set_title(f"{station} on {period.label}")
    return figure_png(fig)


def write_daily_log(
    data_root: Path,
    con: duckdb.DuckDBPyConnection,
    period: Period,
    station: str | None = None,
    formats: tuple[str, ...] = ("csv", "parquet", "html"),
) -> ReportOutput:
    if period.kind != "day":
        raise ValueError(f"the daily station log is for one day, not {period.label}: use a YYYY-MM-DD date")
    tables = daily_tables(con, period, station)
    directory = report_dir(data_root, REPORT, period.label, station)

    def page() -> str:
        sections = [Section("Summary", table=table_html(tables["summary"]))]
        for name in sorted(tables["summary"]["station"]):
            own = {k: v[v["station"] == name] for k, v in tables.items()}
            sections.append(
                Section(
                    f"Station {name}",
                    text=f"{len(own['plays'])} plays, {len(own['dead_air'])} dead-air alerts, "
                    f"{len(own['gaps'])} recording gaps.",
                    images=[_timeline_chart(own["timeline"], period, name)],
                    table=table_html(own["plays"].drop(columns=["station"]), max_rows=400)
                    + table_html(own["dead_air"].drop(columns=["station"]))
                    + table_html(own["gaps"].drop(columns=["station"])),
                )
            )
        return render_page(
            f"Daily station log {period.label}", f"station {station}" if station else "all stations", sections
        )

    return write_report(REPORT, period.label, directory, tables, formats, page, tables["summary"])
