"""Times in the API: stored as UTC, given out in ISO 8601 with the station's own offset."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTH_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"  # 1970-01 to 2999-12


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo:
    """The station's IANA zone; UTC for a station without one (or with one this system lacks)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def from_epoch_us(value: int | None, tz: ZoneInfo) -> datetime | None:
    """A DuckDB `epoch_us(...)` as an aware datetime in `tz`."""
    if value is None:
        return None
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)).astimezone(tz)


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of a YYYY-MM month in `tz`, in UTC."""
    if not re.fullmatch(MONTH_PATTERN, month):
        raise ValueError(f"month {month!r} is not a month: use YYYY-MM, e.g. 2026-11")
    first = date(int(month[:4]), int(month[5:]), 1)
    after = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    start = datetime(first.year, first.month, 1, tzinfo=tz).astimezone(UTC)
    end = datetime(after.year, after.month, 1, tzinfo=tz).astimezone(UTC)
    return start, end
