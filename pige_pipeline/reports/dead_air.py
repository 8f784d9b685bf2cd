"""The dead-air report: every alert with its severity, classification and notification status, and
the total off-air time per station. Alerts split at hour boundaries are stitched back into one event
(`dead_air_events`), counted in the period where it started."""

from __future__ import annotations

from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import pandas as pd

from pige_pipeline.reports.clips import CLIP_COLUMN, clip_column
from pige_pipeline.reports.html import Section, figure_png, render_page, table_html
from pige_pipeline.reports.output import ReportOutput, report_dir, write_report
from pige_pipeline.reports.periods import Period, outer_bounds, register_bounds, station_times, zones_text

REPORT = "dead_air"
SEVERITIES = ("critical", "warning", "info")


ALERT_PAGE_COLUMNS = ["start", "end", "duration_s", "severity", "classification", "explanation", CLIP_COLUMN]


def dead_air_tables(
    con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None, utc: bool = False
) -> dict[str, pd.DataFrame]:
    lo, hi = outer_bounds(register_bounds(con, period, station, utc), period)
    where = "start >= period_start AND start < period_end AND start >= ? AND start < ?"
    alerts = con.execute(
        f"""
        SELECT station, alert_id, alert_ids, start, "end", round(duration_s, 2) AS duration_s, severity,
               classification, round(confidence, 2) AS confidence, notification_status, notified_at,
               explanation, classifier, source_files, source_start_s, source_end_s
        FROM dead_air_events JOIN _period USING (station) WHERE {where} ORDER BY start, station
        """,
        [lo, hi],
    ).fetchdf()
    totals = con.execute(
        f"""
        SELECT s.station, count(e.station) AS alerts,
               count(*) FILTER (WHERE e.severity = 'critical') AS critical,
               count(*) FILTER (WHERE e.severity = 'warning') AS warning,
               count(*) FILTER (WHERE e.severity = 'info') AS info,
               count(*) FILTER (WHERE e.classification = 'suspect') AS suspect,
               round(coalesce(sum(e.duration_s), 0), 2) AS off_air_s,
               round(coalesce(sum(e.duration_s) FILTER (WHERE e.classification = 'suspect'), 0), 2)
                   AS suspect_off_air_s,
               count(*) FILTER (WHERE e.notification_status = 'failed') AS notifications_failed,
               round(coalesce(max(e.duration_s), 0), 2) AS longest_s
        FROM _period s
        LEFT JOIN (SELECT dead_air_events.* FROM dead_air_events JOIN _period USING (station) WHERE {where}) e
            ON e.station = s.station
        GROUP BY s.station ORDER BY off_air_s DESC, s.station
        """,
        [lo, hi],
    ).fetchdf()
    return {"alerts": alerts, "totals": totals}


def _chart(totals: pd.DataFrame, alerts: pd.DataFrame) -> list[Section]:
    if alerts.empty:
        return []
    pivot = (
        alerts.pivot_table(
            index="station", columns="severity", values="duration_s", aggfunc="sum", fill_value=0
        )
        .reindex(columns=list(SEVERITIES), fill_value=0)
        .reindex(totals["station"], fill_value=0)
        / 60.0
    )
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(pivot) + 1.2))
    left = pd.Series(0.0, index=pivot.index)
    for severity, colour in zip(SEVERITIES, ("#c0392b", "#e67e22", "#95a5a6"), strict=True):
        ax.barh(pivot.index, pivot[severity], left=left, color=colour, label=severity)
        left += pivot[severity]
    ax.set_xlabel("minutes off air")
    ax.legend()
    ax.set_title("Off-air time per station, by severity")
    return [Section("Off-air time", images=[figure_png(fig)])]


def write_dead_air(
    data_root: Path,
    con: duckdb.DuckDBPyConnection,
    period: Period,
    station: str | None = None,
    formats: tuple[str, ...] = ("csv", "parquet", "html"),
    utc: bool = False,
    clips: bool = True,
) -> ReportOutput:
    """Write `reports/dead_air/{daily|monthly}/{period}[/stations/{station}]/`, each alert with its clip."""
    tables = dead_air_tables(con, period, station, utc)
    bounds = register_bounds(con, period, station, utc)
    directory = report_dir(data_root, REPORT, f"{period.cadence}/{period.label}", station)

    def page() -> str:
        totals, alerts = tables["totals"], station_times(tables["alerts"], bounds, ("start", "end"))
        kpis = {
            "alerts": len(alerts),
            "critical": int((alerts["severity"] == "critical").sum()),
            "minutes off air": f"{totals['off_air_s'].sum() / 60:.1f}",
            "failed notifications": int(totals["notifications_failed"].sum()),
        }
        alerts[CLIP_COLUMN] = clip_column(
            data_root, directory, tables["alerts"], "dead_air", "alert_id", cut=clips
        )
        sections = _chart(totals, alerts) + [
            Section("Total off-air time per station", table=table_html(totals)),
            Section(
                "Every alert",
                table=table_html(
                    alerts[["station", *ALERT_PAGE_COLUMNS]], max_rows=500, raw_columns=(CLIP_COLUMN,)
                ),
            ),
        ]
        scope = f"station {station}" if station else "all stations"
        return render_page(
            f"Dead air {period.label}",
            f"{scope}, {period.kind}s in {zones_text(bounds, utc)}",
            sections,
            kpis=kpis,
        )

    return write_report(REPORT, period.label, directory, tables, formats, page, tables["totals"])
