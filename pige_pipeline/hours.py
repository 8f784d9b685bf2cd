"""UTC hour arithmetic shared by the store, the assets and the reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
# Dagster's HourlyPartitionsDefinition key format.
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"


def hour_start(moment: datetime) -> datetime:
    """The UTC hour that contains `moment` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_from_partition_key(key: str) -> datetime:
    return datetime.strptime(key, PARTITION_KEY_FORMAT).replace(tzinfo=UTC)


def partition_key_for(moment: datetime) -> str:
    return hour_start(moment).strftime(PARTITION_KEY_FORMAT)


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
