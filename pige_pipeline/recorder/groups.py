"""Recorder groups (shards): which stations a recorder records, from `recorder_group` in stations.yaml."""

from __future__ import annotations

from collections.abc import Iterable

from pige_pipeline.stations import RECORDER_GROUP_PATTERN, Station


def parse_groups(text: str | None) -> frozenset[str] | None:
    """A comma-separated list of groups (`a,b`), or None for every group when it is empty or unset."""
    if text is None or not text.strip():
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    bad = [name for name in names if not RECORDER_GROUP_PATTERN.fullmatch(name)]
    if bad:
        raise ValueError(
            f"recorder group(s) {', '.join(repr(name[:80]) for name in bad)} not allowed: use 1-64 "
            "lower-case letters, digits, '-' or '_', starting with a letter or digit, separated by commas"
        )
    return frozenset(names)


def in_groups(station: Station, groups: frozenset[str] | None) -> bool:
    """Whether a recorder limited to `groups` (None = all) records `station`."""
    return groups is None or station.recorder_group in groups


def groups_of(stations: Iterable[Station]) -> set[str]:
    """The recorder groups that have at least one of these stations."""
    return {station.recorder_group for station in stations}


def describe(groups: frozenset[str] | None) -> str:
    """Groups for a log line: `a, b`, or `all groups`."""
    return "all groups" if groups is None else ", ".join(sorted(groups))
