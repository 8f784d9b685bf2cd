"""`late_zone_reports`: write a day's and a month's reports again once the westmost station's period is over.

The daily and monthly report assets run at 00:30 UTC, when the period is not over yet for a station
west of UTC: their pages say "partial". This sensor requests the same partitions again once every
station's period has ended, its last hour has been processed and the analytics rebuilt after it, so
nobody has to remember to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from pige_pipeline.defs.reports.assets import REPORT_ASSETS_BY_NAME
from pige_pipeline.lib.resources import PigeResource
from pige_pipeline.reports.periods import Period, final_end
from pige_pipeline.reports.registry import REPORTS
from pige_pipeline.stations import StationsFileError, load_stations

ANALYTICS = dg.AssetKey("analytics")
# The hourly asset whose partition says that an hour was processed (written after every station step).
LAST_HOURLY = dg.AssetKey("airplay_events")
DAYS_BACK = 3  # a day whose rewrite was missed for longer is back-filled by hand (docs/reports.md)


def _keys(grain: str) -> list[dg.AssetKey]:
    return [
        REPORT_ASSETS_BY_NAME[name].key
        for spec in REPORTS
        for name, asset_grain in spec.assets.items()
        if asset_grain == grain
    ]


def late_periods(now: datetime, zones: set[str]) -> list[tuple[str, Period]]:
    """(grain, period) of the recent days and last month that ended later for a station than in UTC."""
    today = now.astimezone(UTC).date()
    candidates = [("day", Period.day(today - timedelta(days=n))) for n in range(1, DAYS_BACK + 1)]
    candidates.append(("month", Period.month(today.replace(day=1) - timedelta(days=1))))
    return [(grain, p) for grain, p in candidates if final_end(p, zones) > p.end]


def _last_time(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None) -> float | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0].timestamp if records else None


@dg.sensor(
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=dg.AssetSelection.assets(*_keys("day"), *_keys("month")),
    description="Writes a day's and a month's reports again once the period is over for the westmost "
    "station (the 00:30 UTC run is partial for stations west of UTC).",
)
def late_zone_reports(context: dg.SensorEvaluationContext, pige: PigeResource) -> dg.SensorResult:
    settings = pige.settings()
    try:
        zones = {station.timezone for station in load_stations(settings.stations_file).stations}
    except StationsFileError as exc:
        return dg.SensorResult(skip_reason=f"stations file unusable: {exc}")
    now = datetime.now(UTC)
    instance = context.instance
    analytics_at = _last_time(instance, ANALYTICS, None)
    requests = []
    for grain, period in late_periods(now, zones):
        end = final_end(period, zones)
        if end > now:
            continue  # not over yet for some station
        last_hour = (end - timedelta(hours=1)).strftime("%Y-%m-%d-%H:%M")
        processed_at = _last_time(instance, LAST_HOURLY, last_hour)
        if processed_at is None or analytics_at is None or analytics_at < processed_at:
            continue  # its last hour is not in the analytics yet: look again on the next tick
        partition = period.first.isoformat()  # daily and monthly partition keys: the first day
        keys = _keys(grain)
        written = [_last_time(instance, key, partition) for key in keys]
        if written and all(w is not None and w >= end.timestamp() for w in written):
            continue  # already written after the period was over everywhere
        requests.append(
            dg.RunRequest(
                run_key=f"late-zone-{grain}-{partition}-{int(end.timestamp())}",
                partition_key=partition,
                asset_selection=keys,
                tags={"pige/reason": "period over for every station"},
            )
        )
    return dg.SensorResult(run_requests=requests)
