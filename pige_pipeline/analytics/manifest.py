"""The compacted day files an analytics build read, and what changed since the previous build.

Each build stores, in the database itself (`_day_files`), every compacted day file of the assets
that feed stitched tables, with its size and modification time. Compaction publishes a day by a
rename, so a day whose (size, mtime) pair is unchanged holds the rows the previous build read. The
next build diffs the tree against that table: only the changed, new and removed days are read again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pige_pipeline.analytics.compaction import compacted_root


@dataclass(frozen=True)
class DayFile:
    """One compacted day file; `day` is None when its path is not `YYYY/MM/DD.parquet`."""

    path: str
    day: date | None
    size: int
    mtime_ns: int


def _day_of(year: str, month: str, name: str) -> date | None:
    stem = name.removesuffix(".parquet")
    if not (len(year) == 4 and len(month) == 2 and len(stem) == 2):
        return None
    try:
        return date(int(year), int(month), int(stem))
    except ValueError:
        return None


def list_day_files(data_root: Path, asset: str) -> dict[str, DayFile]:
    """{path: DayFile} for the files `compacted_glob` matches, each path spelled as DuckDB's glob does."""
    root = compacted_root(data_root) / asset
    if not root.is_dir():
        return {}
    root = root.resolve()
    files: dict[str, DayFile] = {}
    for year in os.scandir(root):
        if not year.is_dir():
            continue
        for month in os.scandir(year.path):
            if not month.is_dir():
                continue
            for entry in os.scandir(month.path):
                if not entry.name.endswith(".parquet") or not entry.is_file():
                    continue
                stat = entry.stat()
                path = str(root / year.name / month.name / entry.name)
                files[path] = DayFile(
                    path, _day_of(year.name, month.name, entry.name), stat.st_size, stat.st_mtime_ns
                )
    return files


@dataclass
class ManifestDiff:
    """Files that differ between the previous build's manifest and the tree now."""

    changed_days: set[date]
    changed_paths: list[str]  # new or rewritten, readable now
    removed_paths: list[str]

    @property
    def empty(self) -> bool:
        return not (self.changed_paths or self.removed_paths)


def diff(previous: dict[str, DayFile], now: dict[str, DayFile]) -> ManifestDiff:
    changed = [p for p, f in now.items() if previous.get(p) != f]
    removed = [p for p in previous if p not in now]
    days = {d for p in [*changed, *removed] if (d := (now.get(p) or previous[p]).day) is not None}
    return ManifestDiff(days, sorted(changed), sorted(removed))
