"""Every report pige writes, declared once: `pige report` and the Dagster report assets are built from it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from pige_pipeline.reports import airplay, coverage, daily_log, dead_air, stats
from pige_pipeline.reports.output import ReportOutput
from pige_pipeline.reports.periods import Period

ALL_FORMATS = ("csv", "parquet", "html")
# What an asset's partition is: one day, one month, or none (refreshed on its own schedule).
Grain = Literal["day", "month", "none"]


@dataclass(frozen=True)
class ReportSpec:
    """One report: its command, what it says it is, the function that writes it, and its assets."""

    command: str  # `pige report <command>`
    description: str  # the command's help and the assets' description in the UI
    write: Callable[..., ReportOutput]
    assets: Mapping[str, Grain]  # asset name -> its partition grain
    periods: tuple[Literal["day", "month"], ...] = ("day", "month")  # what the command accepts
    clips: bool = True  # its HTML page can carry each line's audio clip
    reconciles: bool = False  # checked against airplay_events (the statement)

    def run(
        self,
        data_root: Path,
        con: duckdb.DuckDBPyConnection,
        period: Period | None = None,
        station: str | None = None,
        formats: tuple[str, ...] = ALL_FORMATS,
        utc: bool = False,
        clips: bool = True,
    ) -> ReportOutput:
        """Write the report for `period` (ignored by a report without periods) and return what it wrote."""
        if not self.periods:
            return self.write(data_root, con, formats)
        options: dict[str, object] = {"station": station, "formats": formats, "utc": utc}
        if self.clips:
            options["clips"] = clips
        return self.write(data_root, con, period, **options)


REPORTS: tuple[ReportSpec, ...] = (
    ReportSpec(
        command="daily",
        description="Daily station log: per station and its own day, the timeline of music, speech and "
        "silence, plays, dead air and coverage.",
        write=daily_log.write_daily_log,
        assets={"daily_station_log": "day"},
        periods=("day",),
    ),
    ReportSpec(
        command="airplay",
        description="Airplay statement per station and per rights holder: plays, seconds, first and last "
        "play per track.",
        write=airplay.write_statement,
        assets={"airplay_statement_daily": "day", "airplay_statement_monthly": "month"},
        reconciles=True,
    ),
    ReportSpec(
        command="dead-air",
        description="Dead-air report: every alert with severity, classification and notification, and the "
        "off-air time per station.",
        write=dead_air.write_dead_air,
        assets={"dead_air_report": "day"},
    ),
    ReportSpec(
        command="coverage",
        description="Coverage report: recorded seconds per station-hour, with the recorder's gaps and "
        "their causes.",
        write=coverage.write_coverage,
        assets={"coverage_report": "day"},
        clips=False,
    ),
    ReportSpec(
        command="stats",
        description="Statistics: recordings per status, hours recorded, storage per station and the "
        "processing backlog.",
        write=stats.write_stats,
        assets={"statistics": "none"},
        periods=(),
        clips=False,
    ),
)


def report(command: str) -> ReportSpec:
    """The report behind `pige report <command>`."""
    return next(spec for spec in REPORTS if spec.command == command)
