"""`late_zone_reports`: a day's reports are written again once the westmost station's day is over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import yaml

from pige_pipeline.defs.reports.sensors import late_periods, late_zone_reports
from pige_pipeline.lib.resources import PigeResource
from pige_pipeline.reports.periods import Period, final_end


def test_only_periods_that_end_later_west_of_utc_are_late() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    late = late_periods(now, {"Europe/Paris", "America/Los_Angeles"})
    assert ("day", Period.day("2026-12-01")) in late and ("month", Period.month("2026-11")) in late
    assert final_end(Period.day("2026-12-01"), {"Europe/Paris", "America/Los_Angeles"}) == datetime(
        2026, 12, 2, 8, 0, tzinfo=UTC
    )
    # Stations on or east of UTC are over by 00:00 UTC: the 00:30 run already had the whole day.
    assert late_periods(now, {"Europe/Paris", "UTC", "Asia/Tokyo"}) == []


def _stations(root: Path) -> None:
    entries = [
        {"id": sid, "name": sid, "stream_url": f"http://127.0.0.1:9/{sid}", "timezone": zone}
        for sid, zone in (("paris", "Europe/Paris"), ("la", "America/Los_Angeles"))
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "stations.yaml").write_text(yaml.safe_dump({"stations": entries}), encoding="utf-8")


def _evaluate(instance: dg.DagsterInstance, root: Path) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, resources={"pige": PigeResource(data_root=str(root))}
    )
    return late_zone_reports(context)


def test_the_day_is_requested_again_once_its_last_hour_is_in_the_analytics(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _stations(root)
    day = Period.day(datetime.now(UTC).date() - timedelta(days=2))
    last_hour = (final_end(day, {"Europe/Paris", "America/Los_Angeles"}) - timedelta(hours=1)).strftime(
        "%Y-%m-%d-%H:%M"
    )
    with dg.DagsterInstance.ephemeral() as instance:
        # Nothing processed yet: nothing to write again.
        assert not _evaluate(instance, root).run_requests

        instance.report_runless_asset_event(dg.AssetMaterialization("airplay_events", partition=last_hour))
        assert not _evaluate(instance, root).run_requests  # processed, but not in the analytics yet

        instance.report_runless_asset_event(dg.AssetMaterialization("analytics"))
        by_partition = {r.partition_key: r for r in _evaluate(instance, root).run_requests}
        # The day, and its month too when it is the month's last day (the same last hour).
        month = Period.month(day.first)
        expected = {day.first.isoformat()} | (
            {month.first.isoformat()} if month.after == day.after else set()
        )
        assert set(by_partition) == expected, by_partition
        request = by_partition[day.first.isoformat()]
        names = {key.to_user_string() for key in request.asset_selection}
        assert names == {"daily_station_log", "airplay_statement_daily", "dead_air_report", "coverage_report"}

        # Written after the LA day was over: complete, not requested again (its month still is).
        for name in names:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(name, partition=day.first.isoformat())
            )
        again = {r.partition_key for r in _evaluate(instance, root).run_requests}
        assert again == expected - {day.first.isoformat()}


def test_an_unusable_stations_file_skips_with_its_reason(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "stations.yaml").write_text("stations: [\n", encoding="utf-8")
    with dg.DagsterInstance.ephemeral() as instance:
        result = _evaluate(instance, root)
    assert not result.run_requests
    assert result.skip_reason and "stations.yaml" in result.skip_reason.skip_message
