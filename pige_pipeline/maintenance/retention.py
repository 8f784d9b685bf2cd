"""Retention: delete recorded audio older than each station's `retention_days`, and nothing else.

Only audio files of the chunk store are ever deleted. Parquet, reports, analytics and state are
derived data and are never touched. A chunk is kept, whatever its age, when
- a legal hold covers it (`pige_pipeline.maintenance.holds`),
- it lies within 1 h of an open dead-air alert of its station (`pige_pipeline.maintenance.alerts`),
- its station is not in stations.yaml (nobody said how long to keep it), or its alerts cannot be read.
Every deletion is appended to `{data_root}/state/retention/deletions-YYYY-MM.jsonl`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pige_pipeline.hours import HOUR, hour_start, utc
from pige_pipeline.jsonl import append_record, read_records
from pige_pipeline.maintenance.alerts import (
    AlertsUnreadableError,
    AlertWindow,
    open_alert_windows,
    read_acknowledged,
)
from pige_pipeline.maintenance.holds import LegalHold, load_holds
from pige_pipeline.stations import StationsFile
from pige_pipeline.store.chunks import list_chunks, stations_in_store

# A chunk file holds at most its hour, plus the few minutes a recorder rotation overlaps into the next
# one. Counting that margin means a file is judged by the latest audio it can contain.
ROTATION_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class ChunkCandidate:
    """One expired audio file of the store."""

    station: str
    path: Path
    start: datetime
    end: datetime  # latest moment the file can hold (see ROTATION_MARGIN)
    size_bytes: int


@dataclass(frozen=True)
class KeptChunk:
    chunk: ChunkCandidate
    reason: str


@dataclass
class RetentionPlan:
    """What retention would delete and what it keeps despite its age, and why."""

    now: datetime
    cutoffs: dict[str, datetime]
    retention_days: dict[str, int]
    delete: list[ChunkCandidate] = field(default_factory=list)
    kept: list[KeptChunk] = field(default_factory=list)
    unknown_stations: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def bytes_to_free(self) -> int:
        return sum(c.size_bytes for c in self.delete)

    def by_station(self) -> dict[str, dict[str, int]]:
        """Per station: files and bytes to delete, files kept by a hold or an alert."""
        summary: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "bytes": 0, "kept": 0})
        for chunk in self.delete:
            summary[chunk.station]["files"] += 1
            summary[chunk.station]["bytes"] += chunk.size_bytes
        for kept in self.kept:
            summary[kept.chunk.station]["kept"] += 1
        return dict(sorted(summary.items()))


@dataclass
class RetentionResult:
    deleted: list[ChunkCandidate] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)
    already_gone: list[Path] = field(default_factory=list)
    log_path: Path | None = None

    @property
    def bytes_freed(self) -> int:
        return sum(c.size_bytes for c in self.deleted)


def chunk_extent_end(start: datetime) -> datetime:
    return hour_start(start) + HOUR + ROTATION_MARGIN


def _hold_reason(holds: list[LegalHold], chunk: ChunkCandidate) -> str | None:
    for hold in holds:
        if hold.covers(chunk.station, chunk.start, chunk.end):
            return f"legal hold {hold.id!r} ({hold.reason})"
    return None


def _alert_reason(windows: list[AlertWindow], chunk: ChunkCandidate) -> str | None:
    for window in windows:
        if window.start < chunk.end and chunk.start < window.end:
            return f"open dead-air alert {window.alert_id!r} within 1 h"
    return None


def plan_retention(data_root: Path, registry: StationsFile, now: datetime | None = None) -> RetentionPlan:
    """List the expired chunks to delete and those kept; raises `LegalHoldError` if holds are unreadable."""
    now = utc(now or datetime.now(UTC))
    holds = load_holds(data_root)  # unreadable holds stop everything: see holds.py
    acknowledged = read_acknowledged(data_root)
    known = {s.id: s for s in registry.stations}
    plan = RetentionPlan(
        now=now,
        cutoffs={s.id: now - timedelta(days=s.retention_days) for s in registry.stations},
        retention_days={s.id: s.retention_days for s in registry.stations},
    )
    for station_id in stations_in_store(data_root):
        station = known.get(station_id)
        if station is None:
            plan.unknown_stations.append(station_id)
            plan.problems.append(
                f"station {station_id!r} has audio in {data_root / 'chunks' / station_id} but is not in "
                "stations.yaml: its audio is kept; add it (with retention_days) or remove the folder by hand"
            )
            continue
        cutoff = plan.cutoffs[station_id]
        expired = []
        for chunk in list_chunks(data_root, station_id, end=cutoff):
            end = chunk_extent_end(chunk.start)
            if end > cutoff:
                continue
            try:
                size = chunk.path.stat().st_size
            except FileNotFoundError:
                continue
            expired.append(ChunkCandidate(station_id, chunk.path, chunk.start, end, size))
        if not expired:
            continue
        try:
            windows = open_alert_windows(
                data_root, station_id, expired[0].start, max(c.end for c in expired), acknowledged
            )
        except AlertsUnreadableError as exc:
            plan.problems.append(f"{exc}; keeping its expired audio until they can be read")
            plan.kept.extend(KeptChunk(c, "dead-air alerts unreadable") for c in expired)
            continue
        for chunk in expired:
            reason = _hold_reason(holds, chunk) or _alert_reason(windows, chunk)
            if reason:
                plan.kept.append(KeptChunk(chunk, reason))
            else:
                plan.delete.append(chunk)
    return plan


def deletion_log_dir(data_root: Path) -> Path:
    return data_root / "state" / "retention"


def deletion_log_path(data_root: Path, when: datetime) -> Path:
    return deletion_log_dir(data_root) / f"deletions-{utc(when):%Y-%m}.jsonl"


def _inside_store(data_root: Path, path: Path) -> bool:
    # Lexical check on purpose: a chunks/ directory may be a symlink to another disk.
    try:
        rel = path.relative_to(data_root / "chunks")
    except ValueError:
        return False
    return ".." not in rel.parts and len(rel.parts) == 5


def apply_retention(data_root: Path, plan: RetentionPlan, run_id: str = "cli") -> RetentionResult:
    """Delete the planned chunks, logging each one as it goes; a file that fails is reported, not fatal."""
    result = RetentionResult()
    touched_dirs: set[Path] = set()
    for chunk in plan.delete:
        if not _inside_store(data_root, chunk.path):
            result.failed[chunk.path] = "not a chunk file of this data root; refused"
            continue
        try:
            chunk.path.unlink()
        except FileNotFoundError:
            result.already_gone.append(chunk.path)
            continue
        except OSError as exc:
            result.failed[chunk.path] = f"{type(exc).__name__}: {exc}"
            continue
        deleted_at = datetime.now(UTC)
        result.log_path = _log_deletion(data_root, chunk, plan, run_id, deleted_at)
        result.deleted.append(chunk)
        touched_dirs.add(chunk.path.parent)
    for day_dir in sorted(touched_dirs, reverse=True):
        _remove_empty_parents(day_dir, stop=data_root / "chunks")
    return result


def _log_deletion(
    data_root: Path, chunk: ChunkCandidate, plan: RetentionPlan, run_id: str, deleted_at: datetime
) -> Path:
    path = deletion_log_path(data_root, deleted_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "deleted_at": deleted_at.isoformat(),
        "station": chunk.station,
        "path": chunk.path.relative_to(data_root).as_posix(),
        "chunk_start": chunk.start.isoformat(),
        "bytes": chunk.size_bytes,
        "retention_days": plan.retention_days[chunk.station],
        "cutoff": plan.cutoffs[chunk.station].isoformat(),
        "run_id": run_id,
    }
    append_record(path, entry)
    return path


def read_deletion_log(data_root: Path, month: datetime) -> list[dict]:
    return read_records(deletion_log_path(data_root, month))


def deleted_chunks(data_root: Path) -> dict[str, list[tuple[datetime, str]]]:
    """Every chunk retention deleted, per station: (UTC start, path relative to the data root)."""
    found: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for log in sorted(deletion_log_dir(data_root).glob("deletions-*.jsonl")):
        for entry in read_records(log):
            try:
                found[entry["station"]].append(
                    (utc(datetime.fromisoformat(entry["chunk_start"])), entry["path"])
                )
            except (KeyError, TypeError, ValueError):
                continue  # a line from an older format: its chunk is simply not named
    return dict(found)


def _remove_empty_parents(directory: Path, stop: Path) -> None:
    # Day, month and year folders left empty; the station folder stays (it names a station).
    current = directory
    for _ in range(3):
        if current == stop or current.parent == stop:
            return
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent
