"""Report periods: a UTC day or a UTC month. An event belongs to the period in which it started."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal


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
