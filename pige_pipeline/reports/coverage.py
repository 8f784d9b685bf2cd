"""The coverage report: recorded seconds per station-hour, with the recorder's gaps and their causes.

A station-hour without an `audio_chunks` row is `not_processed`: either nothing was recorded and the
hour was never run, or the pipeline is behind (see the statistics report's backlog)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pige_pipeline.reports.html import Section, figure_png, render_page, table_html
from pige_pipeline.reports.output import ReportOutput, report_dir, write_report
from pige_pipeline.reports.periods import Period, outer_bounds, register_bounds, zones_text

REPORT = "coverage"


def coverage_tables(
    con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None, utc: bool = False
) -> dict[str, pd.DataFrame]:
    lo, hi = outer_bounds(register_bounds(con, period, station, utc), period)
    # The UTC hours of each station's period (hours are UTC partitions; a zone with a half-hour offset
    # gets the hours that overlap its day). `local_time` is the hour's start on the station's clock.
    hours = con.execute(
        """
        WITH grid AS (
            SELECT b.station, b.timezone,
                   unnest(generate_series(date_trunc('hour', b.period_start),
                                          b.period_end - INTERVAL 1 MICROSECOND, INTERVAL 1 HOUR)) AS hour
            FROM _period b
        )
        SELECT g.station, g.hour, timezone(g.timezone, g.hour) AS local_time,
               coalesce(a.status, 'not_processed') AS status,
               round(coalesce(a.duration_s, 0), 1) AS recorded_s,
               round(coalesce(a.coverage, 0), 4) AS coverage,
               round(coalesce(a.gap_s, 3600), 1) AS gap_s, coalesce(a.gap_causes, '') AS gap_causes,
               a.files, a.codec, a.bitrate, a.size_bytes
        FROM grid g LEFT JOIN audio_chunks a ON a.station = g.station AND a.hour = g.hour
        ORDER BY g.station, g.hour
        """
    ).fetchdf()
    gaps = con.execute(
        """
        SELECT station, greatest(start, period_start) AS start, least(end_or_now, period_end) AS "end",
               round(epoch(least(end_or_now, period_end)) - epoch(greatest(start, period_start)), 1)
                   AS duration_s,
               cause, detail, open AS still_open
        FROM gaps JOIN _period USING (station)
        WHERE start < period_end AND end_or_now > period_start AND start < ? AND end_or_now > ?
        ORDER BY station, start
        """,
        [hi, lo],
    ).fetchdf()
    per_station = (
        hours.groupby("station")
        .agg(
            hours=("hour", "count"),
            recorded_h=("recorded_s", lambda s: round(s.sum() / 3600, 2)),
            not_processed=("status", lambda s: int((s == "not_processed").sum())),
            short_or_missing=(
                "status",
                lambda s: int(s.isin(["short", "missing", "partly_unreadable"]).sum()),
            ),
        )
        .reset_index()
    )
    per_station["coverage"] = (per_station["recorded_h"] / per_station["hours"]).round(4)
    by_cause = (
        gaps.groupby(["station", "cause"])["duration_s"].agg(["count", "sum"]).reset_index()
        if not gaps.empty
        else pd.DataFrame(columns=["station", "cause", "count", "sum"])
    ).rename(columns={"count": "gaps", "sum": "gap_s"})
    return {"station_hours": hours, "gaps": gaps, "per_station": per_station, "gap_causes": by_cause}


def _heatmap(hours: pd.DataFrame, period: Period) -> list[Section]:
    if hours.empty:
        return []
    # Columns are the station's own days (month) or the hours of its day, counted from its midnight.
    frame = hours.assign(
        slot=hours["local_time"].dt.floor("D")
        if period.kind == "month"
        else hours.groupby("station").cumcount()
    )
    pivot = frame.pivot_table(index="station", columns="slot", values="coverage", aggfunc="mean")
    fig, ax = plt.subplots(figsize=(12, 0.35 * len(pivot) + 1.5))
    image = ax.imshow(pivot.to_numpy(), aspect="auto", cmap="RdYlGn", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(np.arange(len(pivot)), pivot.index)
    if period.kind == "month":
        ax.set_xticks(np.arange(len(pivot.columns)), [f"{c:%d}" for c in pivot.columns])
        ax.set_xlabel("day of month (station time)")
    else:
        ax.set_xticks(np.arange(len(pivot.columns)), [str(c) for c in pivot.columns])
        ax.set_xlabel("hour of the station's day, from its midnight")
    fig.colorbar(image, ax=ax, label="share of the hour recorded")
    ax.set_title("Recording coverage")
    return [Section("Coverage", images=[figure_png(fig)])]


def write_coverage(
    data_root: Path,
    con: duckdb.DuckDBPyConnection,
    period: Period,
    station: str | None = None,
    formats: tuple[str, ...] = ("csv", "parquet", "html"),
    utc: bool = False,
) -> ReportOutput:
    tables = coverage_tables(con, period, station, utc)
    bounds = register_bounds(con, period, station, utc)
    directory = report_dir(data_root, REPORT, f"{period.cadence}/{period.label}", station)

    def page() -> str:
        hours = tables["station_hours"]
        kpis = {
            "station-hours": len(hours),
            "coverage": f"{hours['recorded_s'].sum() / max(len(hours) * 3600, 1):.1%}",
            "gaps": len(tables["gaps"]),
            "not processed": int((hours["status"] == "not_processed").sum()),
        }
        sections = _heatmap(hours, period) + [
            Section("Per station", table=table_html(tables["per_station"])),
            Section("Gap time by cause", table=table_html(tables["gap_causes"])),
            Section("Gaps", table=table_html(tables["gaps"], max_rows=500)),
        ]
        scope = f"station {station}" if station else "all stations"
        return render_page(
            f"Recording coverage {period.label}",
            f"{scope}, {period.kind}s in {zones_text(bounds, utc)}",
            sections,
            kpis=kpis,
        )

    return write_report(REPORT, period.label, directory, tables, formats, page, tables["per_station"])
