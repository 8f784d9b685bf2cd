"""The `analytics` asset: the DuckDB database analysts and reports read, rebuilt and swapped in."""

from datetime import timedelta

import dagster as dg
import pandas as pd
import pydantic

from pige_pipeline.analytics import rebuild
from pige_pipeline.analytics.schemas import ASSET_SCHEMAS
from pige_pipeline.lib.resources import PigeResource

# Every hour at :05, whatever arrived: the rebuild is incremental and cheap when little changed.
ANALYTICS_CRON = "5 * * * *"


class AnalyticsConfig(dg.Config):
    """How to rebuild: incrementally from the live database (the default), or everything from nothing."""

    full: bool = pydantic.Field(
        default=False,
        description="Recompact every day and build the database from nothing instead of patching the "
        "previous one (after a file was edited in place, or to compare with an incremental build).",
    )
    memory_limit: str | None = pydantic.Field(
        default=None,
        description="DuckDB's memory limit for the rebuild, such as '8GB' (default: DuckDB's own, 80% of "
        "the machine's memory). A full rebuild of a long history spills to disk beyond it.",
    )


@dg.asset(
    name="analytics",
    description="DuckDB database over every hourly asset, with stitched plays, silences and dead air.",
    group_name="analytics",
    kinds={"duckdb"},
    pool="duckdb_writer",
    deps=sorted(ASSET_SCHEMAS),
    automation_condition=dg.AutomationCondition.cron_tick_passed(ANALYTICS_CRON)
    & ~dg.AutomationCondition.in_progress(),
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=3), warn_window=timedelta(minutes=90)
    ),
    check_specs=[
        dg.AssetCheckSpec(
            name="no_rejected_rows",
            asset="analytics",
            description="Warns when Parquet rows, gap-log lines or catalogue rows were skipped as unusable.",
        )
    ],
)
def analytics(
    context: dg.AssetExecutionContext, config: AnalyticsConfig, pige: PigeResource
) -> dg.MaterializeResult:
    """Compact the hourly trees, build `analytics.duckdb.tmp` and swap it in atomically."""
    result = rebuild(pige.settings(), full=config.full, memory_limit=config.memory_limit)
    if result.reason:
        context.log.info(f"full rebuild: {result.reason}")
    for problem in result.problems[:20]:
        context.log.warning(problem["problem"])
    tables = pd.DataFrame(
        [{"relation": k, "kind": "table", "rows": v} for k, v in result.tables.items()]
        + [{"relation": k, "kind": f"view ({v})", "rows": None} for k, v in result.views.items()]
    )
    compaction = pd.DataFrame(
        [
            {
                "asset": c.asset,
                "days": c.days,
                "days_rewritten": c.days_rewritten,
                "files_read": c.files_read,
                "seconds": round(c.seconds, 2),
            }
            for c in result.compaction
        ]
    )
    stitched = pd.DataFrame(
        [
            {
                "table": r.table,
                "full": r.full,
                "changed_days": r.changed_days,
                "days_restitched": r.days_restitched,
                "keys_extended": len(r.extended),
                "tracks": r.tracks,
                "pieces": r.pieces,
            }
            for r in result.refreshes.values()
        ]
    )
    phases = pd.DataFrame(
        [{"step": step, "seconds": round(seconds, 2)} for step, seconds in result.phases.items()]
    )
    problems = pd.DataFrame(result.problems[:20], columns=["asset", "station", "hour", "problem"])
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "seconds": round(result.seconds, 2),
            "mode": result.mode,
            "full_reason": result.reason or "",
            "days_restitched": result.days_restitched,
            "compaction_seconds": round(result.compaction_seconds, 2),
            "plays": result.tables.get("plays", 0),
            "problems": len(result.problems),
            "preview": dg.MetadataValue.md(tables.to_markdown(index=False)),
            "phases": dg.MetadataValue.md(phases.to_markdown(index=False)),
            "stitched": dg.MetadataValue.md(stitched.to_markdown(index=False)),
            "compaction": dg.MetadataValue.md(
                compaction.to_markdown(index=False) if len(compaction) else "no hourly tree yet"
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_rejected_rows",
                passed=not result.problems,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"{len(result.problems)} problem(s)" if result.problems else "nothing skipped",
                metadata={
                    "problems": dg.MetadataValue.md(
                        problems.to_markdown(index=False) if len(problems) else "none"
                    )
                },
            )
        ],
    )
