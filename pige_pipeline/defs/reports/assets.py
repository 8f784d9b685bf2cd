"""Report assets: daily station log, airplay statements, dead air, coverage and statistics.

Each runs on cron automation once the `analytics` asset has been rebuilt after the cron tick
(`AutomationCondition.on_cron`), and carries a freshness policy saying by when it is expected.
"""

from collections.abc import Callable
from datetime import timedelta

import dagster as dg
import duckdb
from pydantic import Field

from pige_pipeline.analytics import connect
from pige_pipeline.defs.reports.partitions import daily_report_partitions, monthly_report_partitions
from pige_pipeline.lib.resources import PigeResource
from pige_pipeline.reports import airplay, coverage, daily_log, dead_air, stats
from pige_pipeline.reports.output import ReportOutput
from pige_pipeline.reports.periods import Period

DAILY_CRON = "30 0 * * *"  # after midnight UTC; runs when analytics has been rebuilt since
MONTHLY_CRON = "30 0 1 * *"
STATS_CRON = "20 * * * *"

DAILY_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 3 * * *", lower_bound_delta=timedelta(hours=3))
MONTHLY_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 4 1 * *", lower_bound_delta=timedelta(hours=4))


class ReportConfig(dg.Config):
    """How a report run reads its period and whether its page carries audio clips."""

    utc: bool = Field(
        default=False,
        description="UTC days and months for every station, instead of each station's own (stations.yaml "
        "timezone).",
    )
    clips: bool = Field(
        default=True,
        description="Cut each play's and alert's audio clip for the HTML page when it is written; false "
        "leaves `pige evidence` commands in the page instead (cheaper for many stations).",
    )


def _metadata(output: ReportOutput) -> dict[str, object]:
    return {
        "path": dg.MetadataValue.path(str(output.html or output.directory)),
        "directory": dg.MetadataValue.path(str(output.directory)),
        "period": output.period,
        "rows": dg.MetadataValue.json(output.rows),
        "preview": dg.MetadataValue.md(output.preview_markdown()),
        **({"notes": dg.MetadataValue.md("\n".join(output.notes))} if output.notes else {}),
    }


def _daily_report(
    name: str,
    description: str,
    write: Callable[..., ReportOutput],
    has_clips: bool = True,
) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        description=description,
        group_name="reports",
        kinds={"html", "csv", "parquet"},
        deps=["analytics"],
        partitions_def=daily_report_partitions,
        automation_condition=dg.AutomationCondition.on_cron(DAILY_CRON),
        freshness_policy=DAILY_FRESHNESS,
    )
    def _asset(
        context: dg.AssetExecutionContext, config: ReportConfig, pige: PigeResource
    ) -> dg.MaterializeResult:
        settings = pige.settings()
        period = Period.day(context.partition_key)
        options: dict[str, bool] = {"utc": config.utc} | ({"clips": config.clips} if has_clips else {})
        with connect(settings.data_root) as con:
            output = write(settings.data_root, con, period, **options)
        return dg.MaterializeResult(metadata=_metadata(output))

    return _asset


daily_station_log = _daily_report(
    "daily_station_log",
    "Per station and its own day: timeline of music, speech and silence, plays, dead air and coverage.",
    daily_log.write_daily_log,
)
dead_air_report = _daily_report(
    "dead_air_report",
    "Every dead-air alert of the day with severity, classification, notification, and off-air totals.",
    dead_air.write_dead_air,
)
coverage_report = _daily_report(
    "coverage_report",
    "Recorded seconds per station-hour of the day, with the recorder's gaps and their causes.",
    coverage.write_coverage,
    has_clips=False,
)


def _reconciliation_check(
    con: duckdb.DuckDBPyConnection, period: Period, utc: bool = False
) -> dg.AssetCheckResult:
    mismatches = airplay.reconcile(con, period, utc=utc)
    return dg.AssetCheckResult(
        check_name="reconciles_with_airplay_events",
        passed=mismatches.empty,
        description=(
            "plays and seconds per station and track equal airplay_events"
            if mismatches.empty
            else f"{len(mismatches)} station-track rows disagree with airplay_events"
        ),
        metadata={
            "mismatches": dg.MetadataValue.md(
                mismatches.head(20).to_markdown(index=False) if len(mismatches) else "none"
            )
        },
    )


def _statement_asset(
    name: str,
    partitions_def: dg.PartitionsDefinition,
    cron: str,
    freshness: dg.FreshnessPolicy,
    make_period: Callable[[str], Period],
) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        description=f"Airplay statement ({'daily' if 'daily' in name else 'monthly'}) per station and "
        "per rights holder: plays, seconds, first and last play per track.",
        group_name="reports",
        kinds={"html", "csv", "parquet"},
        deps=["analytics"],
        partitions_def=partitions_def,
        automation_condition=dg.AutomationCondition.on_cron(cron),
        freshness_policy=freshness,
        check_specs=[
            dg.AssetCheckSpec(
                name="reconciles_with_airplay_events",
                asset=name,
                description="Plays and seconds per station and track equal those of airplay_events.",
            )
        ],
    )
    def _asset(
        context: dg.AssetExecutionContext, config: ReportConfig, pige: PigeResource
    ) -> dg.MaterializeResult:
        settings = pige.settings()
        period = make_period(context.partition_key[:10] if "daily" in name else context.partition_key[:7])
        with connect(settings.data_root) as con:
            output = airplay.write_statement(
                settings.data_root, con, period, utc=config.utc, clips=config.clips
            )
            check = _reconciliation_check(con, period, config.utc)
        return dg.MaterializeResult(metadata=_metadata(output), check_results=[check])

    return _asset


airplay_statement_daily = _statement_asset(
    "airplay_statement_daily", daily_report_partitions, DAILY_CRON, DAILY_FRESHNESS, Period.day
)
airplay_statement_monthly = _statement_asset(
    "airplay_statement_monthly", monthly_report_partitions, MONTHLY_CRON, MONTHLY_FRESHNESS, Period.month
)


@dg.asset(
    name="statistics",
    description="Recordings per status, hours recorded, storage per station and processing backlog.",
    group_name="reports",
    kinds={"html", "csv", "parquet"},
    deps=["analytics"],
    automation_condition=dg.AutomationCondition.on_cron(STATS_CRON),
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=3), warn_window=timedelta(hours=2)
    ),
)
def statistics(pige: PigeResource) -> dg.MaterializeResult:
    """The seeds' statistics endpoints, as a report refreshed every hour."""
    settings = pige.settings()
    with connect(settings.data_root) as con:
        output = stats.write_stats(settings.data_root, con)
    return dg.MaterializeResult(metadata=_metadata(output))


REPORT_ASSETS = [
    daily_station_log,
    airplay_statement_daily,
    airplay_statement_monthly,
    dead_air_report,
    coverage_report,
    statistics,
]
