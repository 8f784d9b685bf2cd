"""Stitch per-hour event segments (silences, plays) into whole events across hour boundaries.

Hourly assets write the part of each event that lies inside their hour. An event that crosses a
boundary is therefore two segments: one ending at 3600 s of hour H and one starting at 0 s of H+1.
`stitch` joins such segments back into one event, whatever order the hours were processed in, so
reports count each event once and never lose one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Segment:
    """A piece of an event: [start, end) in UTC, grouped by `key` (station, or station and track)."""

    key: Hashable
    start: datetime
    end: datetime
    payload: Any = None


@dataclass
class Event:
    key: Hashable
    start: datetime
    end: datetime
    segments: list[Segment] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def stitch(
    segments: Iterable[Segment],
    max_gap: timedelta = timedelta(seconds=1),
    joinable: Callable[[Segment, Segment], bool] | None = None,
) -> list[Event]:
    """Join segments with the same key that touch or overlap (or are at most `max_gap` apart).

    `joinable(previous, following)` can refuse a join (for example when the reference offsets of two
    play segments do not line up). Events come back sorted by (start, key); every input segment ends
    up in exactly one event.
    """
    by_key: dict[Hashable, list[Segment]] = {}
    for seg in segments:
        if seg.end < seg.start:
            raise ValueError(f"segment ends before it starts: {seg}")
        by_key.setdefault(seg.key, []).append(seg)
    events: list[Event] = []
    for key, segs in by_key.items():
        current: Event | None = None
        for seg in sorted(segs, key=lambda s: (s.start, s.end)):
            if (
                current is not None
                and seg.start - current.end <= max_gap
                and (joinable is None or joinable(current.segments[-1], seg))
            ):
                current.end = max(current.end, seg.end)
                current.segments.append(seg)
                continue
            current = Event(key=key, start=seg.start, end=seg.end, segments=[seg])
            events.append(current)
    return sorted(events, key=lambda e: (e.start, str(e.key)))


def total_covered(events: Sequence[Event]) -> float:
    """Seconds covered by the union of events (overlaps counted once), per all keys together."""
    spans = sorted((e.start, e.end) for e in events)
    total, cur_start, cur_end = 0.0, None, None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += (cur_end - cur_start).total_seconds()
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += (cur_end - cur_start).total_seconds()
    return total
