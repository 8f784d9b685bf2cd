"""Report assets, one per report and grain of `reports/registry.py` (the registry `pige report` uses).

Each runs on cron automation once the `analytics` asset has been rebuilt after the cron tick
(`AutomationCondition.on_cron`), and carries a freshness policy saying by when it is expected.
"""

from datetime import timedelta

import dagster as dg
import duckdb
from pydantic import Field

from pige_pipeline.analytics import connect
from pige_pipeline.defs.reports.partitions import daily_report_partitions, monthly_report_partitions
from pige_pipeline.lib.resources import PigeResource
from pige_pipeline.reports import airplay
from pige_pipeline.reports.output import ReportOutput
from pige_pipeline.reports.periods import Period
from pige_pipeline.reports.registry import REPORTS, Grain, ReportSpec

DAILY_CRON = "30 0 * * *"  # after midnight UTC; runs when analytics has been rebuilt since
MONTHLY_CRON = "30 0 1 * *"
STATS_CRON = "20 * * * *"
RECONCILIATION_CHECK = "reconciles_with_airplay_events"

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


def _reconciliation_check(
    con: duckdb.DuckDBPyConnection, period: Period, utc: bool = False
) -> dg.AssetCheckResult:
    mismatches = airplay.reconcile(con, period, utc=utc)
    return dg.AssetCheckResult(
        check_name=RECONCILIATION_CHECK,
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


# Partitions, schedule and freshness of each grain of report.
_GRAINS = {
    "day": (daily_report_partitions, DAILY_CRON, DAILY_FRESHNESS, lambda key: Period.day(key[:10])),
    "month": (monthly_report_partitions, MONTHLY_CRON, MONTHLY_FRESHNESS, lambda key: Period.month(key[:7])),
}


def _periodic_report_asset(spec: ReportSpec, name: str, grain: Grain) -> dg.AssetsDefinition:
    partitions_def, cron, freshness, make_period = _GRAINS[grain]
    check_specs = (
        [
            dg.AssetCheckSpec(
                name=RECONCILIATION_CHECK,
                asset=name,
                description="Plays and seconds per station and track equal those of airplay_events.",
            )
        ]
        if spec.reconciles
        else []
    )

    @dg.asset(
        name=name,
        description=f"{spec.description} One asset partition per {grain}.",
        group_name="reports",
        kinds={"html", "csv", "parquet"},
        deps=["analytics"],
        partitions_def=partitions_def,
        automation_condition=dg.AutomationCondition.on_cron(cron),
        freshness_policy=freshness,
        check_specs=check_specs,
    )
    def _asset(
        context: dg.AssetExecutionContext, config: ReportConfig, pige: PigeResource
    ) -> dg.MaterializeResult:
        settings = pige.settings()
        period = make_period(context.partition_key)
        with connect(settings.data_root) as con:
            output = spec.run(settings.data_root, con, period, utc=config.utc, clips=config.clips)
            checks = [_reconciliation_check(con, period, config.utc)] if spec.reconciles else []
        return dg.MaterializeResult(metadata=_metadata(output), check_results=checks)

    return _asset


def _unpartitioned_report_asset(spec: ReportSpec, name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        description=f"{spec.description} Refreshed every hour.",
        group_name="reports",
        kinds={"html", "csv", "parquet"},
        deps=["analytics"],
        automation_condition=dg.AutomationCondition.on_cron(STATS_CRON),
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=3), warn_window=timedelta(hours=2)
        ),
    )
    def _asset(pige: PigeResource) -> dg.MaterializeResult:
        settings = pige.settings()
        with connect(settings.data_root) as con:
            output = spec.run(settings.data_root, con)
        return dg.MaterializeResult(metadata=_metadata(output))

    return _asset


# One asset per report and grain, from the registry `pige report` is built from too.
REPORT_ASSETS_BY_NAME = {
    name: (
        _unpartitioned_report_asset(spec, name)
        if grain == "none"
        else _periodic_report_asset(spec, name, grain)
    )
    for spec in REPORTS
    for name, grain in spec.assets.items()
}
REPORT_ASSETS = list(REPORT_ASSETS_BY_NAME.values())

daily_station_log = REPORT_ASSETS_BY_NAME["daily_station_log"]
airplay_statement_daily = REPORT_ASSETS_BY_NAME["airplay_statement_daily"]
airplay_statement_monthly = REPORT_ASSETS_BY_NAME["airplay_statement_monthly"]
dead_air_report = REPORT_ASSETS_BY_NAME["dead_air_report"]
coverage_report = REPORT_ASSETS_BY_NAME["coverage_report"]
statistics = REPORT_ASSETS_BY_NAME["statistics"]
