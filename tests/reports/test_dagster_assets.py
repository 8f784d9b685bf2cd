"""The analytics and report assets materialize with previews, paths and a passing reconciliation check."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pige_pipeline.definitions import defs
from pige_pipeline.defs.analytics.assets import analytics
from pige_pipeline.defs.reports.assets import (
    airplay_statement_daily,
    airplay_statement_monthly,
    coverage_report,
    daily_station_log,
    dead_air_report,
    statistics,
)
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.testing.synthetic_year import SyntheticData


def test_assets_materialize(synthetic_copy: tuple[Path, SyntheticData]) -> None:
    root, _data = synthetic_copy
    resources = pige_resources(PigeResource(data_root=str(root)))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([analytics], resources=resources, instance=instance)
    assert result.success
    meta = result.asset_materializations_for_node("analytics")[0].metadata
    assert meta["plays"].value > 1000 and "plays" in meta["preview"].value
    assert result.get_asset_check_evaluations()[0].passed
    runs = [
        (airplay_statement_monthly, "2026-01-01"),
        (airplay_statement_daily, "2026-01-31"),
        (daily_station_log, "2026-01-31"),
        (dead_air_report, "2026-01-31"),
        (coverage_report, "2026-02-01"),
    ]
    for asset, key in runs:
        result = dg.materialize([asset], partition_key=key, resources=resources, instance=instance)
        assert result.success
        name = asset.key.path[-1]
        meta = result.asset_materializations_for_node(name)[0].metadata
        assert Path(meta["path"].value).exists() and meta["preview"].value.startswith("|"), name
        for check in result.get_asset_check_evaluations():
            assert check.passed, (name, check.description)
    result = dg.materialize([statistics], resources=resources, instance=instance)
    assert result.success


def test_report_assets_are_wired_with_cron_and_freshness() -> None:
    graph = defs.resolve_asset_graph()
    for name in ("daily_station_log", "airplay_statement_monthly", "statistics", "analytics"):
        node = graph.get(dg.AssetKey(name))
        assert node.automation_condition is not None, name
        assert node.freshness_policy is not None, name
    assert graph.get(dg.AssetKey("analytics")).pools == {"duckdb_writer"}
