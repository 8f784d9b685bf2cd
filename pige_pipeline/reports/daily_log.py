"""The daily station log: per station, the day's timeline of music, speech and silence, the plays,
the dead air and the recording coverage, over the station's own day (its local midnight to the next,
23 or 25 hours when the clocks change) or the UTC day when asked. Each play and alert can be heard."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import matplotlib.pyplot as plt
import pandas as pd

from pige_pipeline.reports.clips import CLIP_COLUMN, clip_column
from pige_pipeline.reports.coverage import coverage_tables
from pige_pipeline.reports.dead_air import ALERT_PAGE_COLUMNS, dead_air_tables
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

REPORT = "daily_log"
LANES = {"music": "#3b6fb6", "speech": "#58a55c", "silence": "#c0392b", "not_recorded": "#7f8c8d"}
PLAY_PAGE_COLUMNS = ["start", "end", "seconds", "title", "artist", "score", CLIP_COLUMN]


def timeline(
    con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None, utc: bool = False
) -> pd.DataFrame:
    """Music (plays), speech, silence and unrecorded stretches in each station's day, clipped to it."""
    lo, hi = outer_bounds(register_bounds(con, period, station, utc), period)
    overlaps = "start < b.period_end AND {end} > b.period_start AND start < $2 AND {end} > $1"
    return con.execute(
        f"""
        WITH spans AS (
            SELECT station, 'music' AS kind, start, "end",
                   coalesce(artist || ' - ' || title, track_id) AS label
            FROM plays JOIN _period b USING (station) WHERE {overlaps.format(end='"end"')}
            UNION ALL
            SELECT station, 'speech', start, "end", '' FROM speech_segments JOIN _period b USING (station)
            WHERE kind = 'speech' AND {overlaps.format(end='"end"')}
            UNION ALL
            SELECT station, 'silence', start, "end", kind FROM silence_events JOIN _period b USING (station)
            WHERE {overlaps.format(end='"end"')}
            UNION ALL
            SELECT station, 'not_recorded', start, end_or_now, cause FROM gaps JOIN _period b USING (station)
            WHERE {overlaps.format(end="end_or_now")}
        )
        SELECT s.station, kind, greatest(start, period_start) AS start, least("end", period_end) AS "end",
               round(epoch(least("end", period_end)) - epoch(greatest(start, period_start)), 2) AS duration_s,
               label
        FROM spans s JOIN _period b USING (station) ORDER BY s.station, start, kind
        """,
        [lo, hi],
    ).fetchdf()


def daily_tables(
    con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None, utc: bool = False
) -> dict[str, pd.DataFrame]:
    bounds = register_bounds(con, period, station, utc)
    lo, hi = outer_bounds(bounds, period)
    plays = con.execute(
        """
        SELECT station, play_id, start, "end", round(seconds, 1) AS seconds, track_id, title, artist, isrc,
               round(score, 3) AS score, segments, source_files, source_start_s, source_end_s
        FROM plays JOIN _period USING (station)
        WHERE start >= period_start AND start < period_end AND start >= ? AND start < ?
        ORDER BY station, start
        """,
        [lo, hi],
    ).fetchdf()
    coverage = coverage_tables(con, period, station, utc)
    dead_air = dead_air_tables(con, period, station, utc)
    register_bounds(con, period, station, utc)
    return {
        "timeline": timeline(con, period, station, utc),
        "plays": plays,
        "dead_air": dead_air["alerts"],
        "coverage": coverage["station_hours"],
        "gaps": coverage["gaps"],
        "summary": _summary(plays, coverage["per_station"], dead_air["totals"], bounds),
    }


def _summary(
    plays: pd.DataFrame, coverage: pd.DataFrame, dead_air: pd.DataFrame, bounds: pd.DataFrame
) -> pd.DataFrame:
    per_station = (
        plays.groupby("station")
        .agg(plays=("seconds", "count"), music_min=("seconds", lambda s: round(s.sum() / 60, 1)))
        .reset_index()
    )
    days = bounds[["station", "timezone", "period_start", "period_end", "hours"]].rename(
        columns={"period_start": "day_start_utc", "period_end": "day_end_utc", "hours": "day_hours"}
    )
    summary = days.merge(coverage[["station", "recorded_h", "coverage"]], on="station", how="left")
    summary = summary.merge(per_station, on="station", how="left")
    summary = summary.merge(dead_air[["station", "alerts", "off_air_s"]], on="station", how="left")
    return summary.fillna({"plays": 0, "music_min": 0.0, "alerts": 0, "off_air_s": 0.0})


def _timeline_chart(frame: pd.DataFrame, day: pd.Series, period: Period, station: str) -> str:
    start, hours, zone = pd.Timestamp(day["day_start_utc"]), int(day["day_hours"]), str(day["timezone"])
    fig, ax = plt.subplots(figsize=(12, 1.9))
    for row, (kind, colour) in enumerate(LANES.items()):
        spans = frame[frame["kind"] == kind]
        starts = (spans["start"] - start).dt.total_seconds() / 3600
        ax.broken_barh(
            list(zip(starts, spans["duration_s"] / 3600, strict=True)), (row - 0.4, 0.8), color=colour
        )
    ax.set_yticks(range(len(LANES)), list(LANES))
    ax.set_xlim(0, hours)
    ticks = list(range(0, hours + 1, 2))
    # Local clock hours under each tick: 0, 2, 4, ... or 0, 1, 3, 3, ... on a day the clocks change.
    labels = [f"{(start + pd.Timedelta(hours=t)).astimezone(ZoneInfo(zone)):%H}" for t in ticks]
    ax.set_xticks(ticks, labels)
    ax.set_xlabel(f"hour of the day ({zone}, {hours} hours)")
    ax.invert_yaxis()
    ax.set_title(f"{station} on {period.label}")
    return figure_png(fig)


def write_daily_log(
    data_root: Path,
    con: duckdb.DuckDBPyConnection,
    period: Period,
    station: str | None = None,
    formats: tuple[str, ...] = ("csv", "parquet", "html"),
    utc: bool = False,
    clips: bool = True,
) -> ReportOutput:
    """Write `reports/daily_log/{day}[/stations/{station}]/`; `clips` cuts each line's audio for the page."""
    if period.kind != "day":
        raise ValueError(f"the daily station log is for one day, not {period.label}: use a YYYY-MM-DD date")
    tables = daily_tables(con, period, station, utc)
    notes = unfinished_note(register_bounds(con, period, station, utc), period)
    directory = report_dir(data_root, REPORT, period.label, station)

    def page() -> str:
        summary = tables["summary"]
        kpis = {
            "stations": len(summary),
            "plays": int(summary["plays"].sum()),
            "dead-air alerts": int(summary["alerts"].sum()),
            "hours recorded": f"{summary['recorded_h'].sum():.1f}",
        }
        sections = [Section("Summary", table=table_html(summary))]
        for name in sorted(summary["station"]):
            own = {k: v[v["station"] == name] for k, v in tables.items()}
            plays = station_times(own["plays"], summary, ("start", "end"))
            alerts = station_times(own["dead_air"], summary, ("start", "end"))
            gaps = station_times(own["gaps"], summary, ("start", "end"))
            label = plays["artist"].fillna("") + " - " + plays["title"].fillna(plays["track_id"])
            # Clips from the UTC rows; the page shows the times on the station's clock.
            plays[CLIP_COLUMN] = clip_column(
                data_root, directory, own["plays"], "play", "play_id", label, clips
            )
            alerts[CLIP_COLUMN] = clip_column(
                data_root, directory, own["dead_air"], "dead_air", "alert_id", cut=clips
            )
            day = summary[summary["station"] == name].iloc[0]
            sections.append(
                Section(
                    f"Station {name}",
                    text=f"{len(plays)} plays, {len(alerts)} dead-air alerts, {len(gaps)} recording gaps; "
                    f"{int(day['day_hours'])} hours from {pd.Timestamp(day['day_start_utc']):%Y-%m-%d %H:%M} "
                    f"UTC. Times are {day['timezone']} time.",
                    images=[_timeline_chart(own["timeline"], day, period, name)],
                    table=table_html(plays[PLAY_PAGE_COLUMNS], max_rows=400, raw_columns=(CLIP_COLUMN,))
                    + table_html(alerts[ALERT_PAGE_COLUMNS], raw_columns=(CLIP_COLUMN,))
                    + table_html(gaps.drop(columns=["station"])),
                )
            )
        scope = f"station {station}" if station else "all stations"
        return render_page(
            f"Daily station log {period.label}",
            f"{scope}, days in {zones_text(tables['summary'], utc)}",
            sections,
            notes,
            kpis,
        )

    return write_report(REPORT, period.label, directory, tables, formats, page, tables["summary"], notes)
