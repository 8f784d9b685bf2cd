"""Housekeeping of the data root: leftovers of writers that crashed.

Every pige writer writes to a hidden temporary name and renames (store.publish_chunk, parquet_store,
the analytics rebuild); a crash leaves the `.…tmp` file behind. Recorder pid files name a process that
may no longer exist. Both are removed once older than a grace period, so that a writer still busy with
its temporary file is never disturbed. Failed Dagster runs are cleaned in `pige_pipeline.defs.maintenance`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pige_pipeline.recorder.state import pid_alive

# Folders where pige writers leave temporary files; derived data folders only, never the whole root.
SCANNED_FOLDERS = ("chunks", "parquet", "analytics", "state", "recorder", "reports")
DEFAULT_GRACE = timedelta(hours=24)
# Where station steps hand their small results to the hour's finish step (the IO manager). A run reads them
# within minutes; a re-execution of a failed run from the UI may want them for a few days.
STEP_OUTPUTS = Path("state") / "dagster_step_outputs"
STEP_OUTPUTS_KEEP = timedelta(days=7)


@dataclass
class StaleFile:
    path: Path
    size_bytes: int
    age: timedelta
    why: str


@dataclass
class HousekeepingResult:
    removed: list[StaleFile] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)

    @property
    def bytes_freed(self) -> int:
        return sum(f.size_bytes for f in self.removed)


def _pid_file_stale(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip().split()[0]
        pid = int(text)
    except (OSError, ValueError, IndexError):
        return "pid file without a pid"
    return None if pid_alive(pid) else f"process {pid} is not running"


def find_stale_files(
    data_root: Path, grace: timedelta = DEFAULT_GRACE, now: float | None = None
) -> list[StaleFile]:
    """Temporary files and dead recorder pid files older than `grace` under the data root."""
    now = time.time() if now is None else now
    found: list[StaleFile] = []
    for folder in SCANNED_FOLDERS:
        base = data_root / folder
        if not base.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                path = Path(dirpath) / name
                is_tmp = name.startswith(".") and (name.endswith(".tmp") or ".tmp." in name)
                is_pid = name.endswith(".pid") and folder in ("recorder", "state")
                is_handover = (data_root / STEP_OUTPUTS) in path.parents
                if not (is_tmp or is_pid or is_handover):
                    continue
                try:
                    stat = path.stat()
                except OSError:
                    continue
                age = timedelta(seconds=max(0.0, now - stat.st_mtime))
                if age < (max(grace, STEP_OUTPUTS_KEEP) if is_handover else grace):
                    continue
                if is_handover:
                    why = "a station step's hand-over file of a run older than 7 days"
                elif is_tmp:
                    why = "temporary file left by an interrupted write"
                else:
                    why = _pid_file_stale(path)
                    if why is None:
                        continue
                found.append(StaleFile(path, stat.st_size, age, why))
    return sorted(found, key=lambda f: f.path)


def remove_stale_files(files: list[StaleFile]) -> HousekeepingResult:
    result = HousekeepingResult()
    for stale in files:
        try:
            stale.path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            result.failed[stale.path] = f"{type(exc).__name__}: {exc}"
            continue
        result.removed.append(stale)
    return result
