"""Report periods: a calendar day or month, in each station's own time zone (or in UTC when asked).

An event belongs to the period in which it started. A station's day runs from its local midnight to
the next, so it lasts 23 or 25 hours on the days its clocks change; `register_bounds` gives the
queries each station's [start, end) in UTC, so "1 April" means each station's own 1 April.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd


class PeriodError(ValueError):
    """A period string that cannot be used; the message says the expected form."""


@dataclass(frozen=True)
class Period:
    kind: Literal["day", "month"]
    first: date

    @classmethod
    def day(cls, value: str | date) -> Period:
        if isinstance(value, date):
            return cls("day", value)
        try:
            return cls("day", date.fromisoformat(value.strip()))
        except ValueError:
            raise PeriodError(f"date {value!r} is not a day: use YYYY-MM-DD, e.g. 2026-11-22") from None

    @classmethod
    def month(cls, value: str | date) -> Period:
        if isinstance(value, date):
            return cls("month", value.replace(day=1))
        match = re.fullmatch(r"(\d{4})-(\d{2})", value.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise PeriodError(f"month {value!r} is not a month: use YYYY-MM, e.g. 2026-11")
        return cls("month", date(int(match.group(1)), int(match.group(2)), 1))

    @property
    def after(self) -> date:
        """The first day after the period."""
        if self.kind == "day":
            return self.first + timedelta(days=1)
        return (self.first.replace(day=28) + timedelta(days=4)).replace(day=1)

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime(self.after.year, self.after.month, self.after.day, tzinfo=UTC)

    @property
    def label(self) -> str:
        return self.first.isoformat() if self.kind == "day" else f"{self.first:%Y-%m}"

    @property
    def cadence(self) -> str:
        return "daily" if self.kind == "day" else "monthly"

    @property
    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // 3600)

    def __str__(self) -> str:
        return self.label

    def bounds(self, zone: str = "UTC") -> tuple[datetime, datetime]:
        """The UTC instants at which the period starts and ends on the clocks of `zone`."""
        tz = ZoneInfo(zone)
        start = datetime(self.first.year, self.first.month, self.first.day, tzinfo=tz)
        end = datetime(self.after.year, self.after.month, self.after.day, tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)


def final_end(period: Period, zones: Iterable[str]) -> datetime:
    """When `period` has ended for every one of `zones` (the westmost one's end); its UTC end if none."""
    return max((period.bounds(zone)[1] for zone in set(zones)), default=period.end)


def register_bounds(
    con: duckdb.DuckDBPyConnection, period: Period, station: str | None = None, utc: bool = False
) -> pd.DataFrame:
    """Register `_period` (station, timezone, period_start, period_end, hours): each station's period.

    Stations come from the analytics `stations` table with their `timezone` (UTC for a station that is
    no longer in stations.yaml); `utc=True` gives every station the UTC period instead.
    """
    only = " WHERE station = ?" if station else ""
    rows = con.execute(
        f"SELECT station, timezone FROM stations{only} ORDER BY station", [station] if station else []
    )
    frame = pd.DataFrame(rows.fetchall(), columns=["station", "timezone"])
    if frame.empty and station:
        frame = pd.DataFrame({"station": [station], "timezone": ["UTC"]})
    if utc:
        frame["timezone"] = "UTC"
    frame["timezone"] = frame["timezone"].fillna("UTC")
    spans = [period.bounds(zone) for zone in frame["timezone"]]
    frame["period_start"] = pd.to_datetime([s for s, _ in spans], utc=True)
    frame["period_end"] = pd.to_datetime([e for _, e in spans], utc=True)
    frame["hours"] = ((frame["period_end"] - frame["period_start"]).dt.total_seconds() // 3600).astype(int)
    con.register("_period", frame)
    return frame


def outer_bounds(bounds: pd.DataFrame, period: Period) -> tuple[datetime, datetime]:
    """The earliest start and latest end over the stations' periods: a cheap pre-filter for scans."""
    if bounds.empty:
        return period.start, period.end
    return bounds["period_start"].min().to_pydatetime(), bounds["period_end"].max().to_pydatetime()


def zones_text(bounds: pd.DataFrame, utc: bool) -> str:
    """How the page says which clock its days follow."""
    if utc:
        return "UTC days"
    zones = sorted(set(bounds["timezone"])) if not bounds.empty else ["UTC"]
    return "each station's local time (" + ", ".join(zones) + ")"


def unfinished_note(bounds: pd.DataFrame, period: Period, now: datetime | None = None) -> list[str]:
    """A note when some station's period has not ended yet (a station west of UTC, or today)."""
    now = now or datetime.now(UTC)
    late = bounds[bounds["period_end"] > pd.Timestamp(now)]
    if late.empty:
        return []
    ends = late["period_end"].max()
    return [
        f"{period.label} is not over yet for {', '.join(late['station'])} (until {ends:%Y-%m-%d %H:%M} UTC): "
        "this report is partial; write it again after that time for the whole period."
    ]


def station_times(frame: pd.DataFrame, bounds: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """A copy of `frame` for a page, its UTC `columns` shown on each row's station clock."""
    shown = frame.copy()
    zones = shown["station"].map(dict(zip(bounds["station"], bounds["timezone"], strict=True))).fillna("UTC")
    for column in columns:
        if column not in shown.columns or shown.empty:
            continue
        times = pd.to_datetime(shown[column], utc=True)
        shown[column] = [
            "" if pd.isna(t) else f"{t.tz_convert(zone):%Y-%m-%d %H:%M:%S}"
            for t, zone in zip(times, zones, strict=True)
        ]
    return shown
