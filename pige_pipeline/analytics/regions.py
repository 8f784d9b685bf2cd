"""Which days an incremental rebuild must re-stitch so its stitched tables equal a full rebuild's.

Stitching (`stitching.assign_events`, `intervals.stitch`) works per key (a station, or a station and a
track) on islands: runs of that key's segments no more than `max_gap` apart. An island boundary is an
event boundary, and what `stitch` does after one depends only on the segments after it. So one key's
pieces of a day range [start, end) can be re-stitched on their own when, at both edges (midnight
UTC), no island of that key crosses: a *cut* for that key.

Every hourly piece lies inside its hour (the hourly assets cut events at hour boundaries; the build
checks it per day file and falls back to a full re-stitch where it does not hold), so whether a key's
island crosses midnight of day d depends only on its pieces of days d-1 and d. If neither day changed
since the last build, a cut there was a cut then too: the old events never crossed it, and can be
deleted by the day they start on and replaced.

Hence the plan: every key is re-stitched on the changed days plus one unchanged neighbour day each
side (`base_days`); a key whose island crosses an edge of that (a play running over midnight, a dead
air over a weekend) gets the next day too, and so on until it stops crossing (`extend_keys`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable
from datetime import date, timedelta

ONE_DAY = timedelta(days=1)

# A range of days [start, end): the end day is not included.
DayRange = tuple[date, date]


def base_days(changed: Collection[date], first: date, last: date) -> set[date]:
    """The changed days and their neighbours, within [first, last] (where data lies)."""
    days = {d + ONE_DAY * k for d in changed for k in (-1, 0, 1)}
    return {d for d in days if first <= d <= last}


def runs(days: Collection[date]) -> list[DayRange]:
    """Consecutive days as sorted [start, end) ranges."""
    ranges: list[list[date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] == day:
            ranges[-1][1] = day + ONE_DAY
        else:
            ranges.append([day, day + ONE_DAY])
    return [(start, end) for start, end in ranges]


def extend_keys(base: set[date], crossing: Callable[[date], set[Hashable]]) -> dict[Hashable, set[date]]:
    """Days to re-stitch for some keys only, beyond `base`: {key: days}.

    `crossing(d)` is the set of keys with an island across midnight at the start of day `d`; it is only
    asked about midnights between two days that did not change, and must be empty where either day
    has no data (which also ends the search at the ends of the history).
    """
    extra: dict[Hashable, set[date]] = {}
    memo: dict[date, set[Hashable]] = {}

    def crossing_at(day: date) -> set[Hashable]:
        if day not in memo:
            memo[day] = crossing(day)
        return memo[day]

    for start, end in runs(base):
        # Downwards from the run's first midnight. A key that reaches another run goes on there, and
        # that run's own edges are searched for every key.
        day, keys = start, crossing_at(start)
        while keys:
            day -= ONE_DAY
            for key in keys:
                extra.setdefault(key, set()).add(day)
            if day - ONE_DAY in base:
                break
            keys = keys & crossing_at(day)
        # Upwards from the midnight that ends the run.
        day, keys = end, crossing_at(end)
        while keys:
            for key in keys:
                extra.setdefault(key, set()).add(day)
            day += ONE_DAY
            if day in base:
                break
            keys = keys & crossing_at(day)
    return extra
