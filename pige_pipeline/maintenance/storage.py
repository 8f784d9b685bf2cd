"""Storage health: free space, how fast the disk fills, and how many days of recording still fit.

Each check appends a sample to `{data_root}/state/storage/history.jsonl`; the growth rate is the
least-squares slope of used bytes over the recent samples. Two figures answer "when is it full":
- `time_to_full`: free space divided by the observed net growth (retention already subtracted);
- `days_of_recording_fit`: free space divided by what the stations record per day, the margin left if
  retention stopped deleting. The asset check and the alert use this one: it does not depend on history.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pige_pipeline.hours import utc
from pige_pipeline.store.chunks import list_chunks, stations_in_store

HISTORY_KEEP = timedelta(days=35)
GROWTH_WINDOW = timedelta(days=2)
# Fewer than this span of samples gives a slope that is mostly noise.
MIN_GROWTH_SPAN = timedelta(minutes=30)
RECORDING_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class StorageThresholds:
    """When storage health fails its check and sends an alert."""

    min_days: float = 14.0
    min_free_percent: float = 5.0

    @classmethod
    def from_env(cls) -> StorageThresholds:
        """PIGE_STORAGE_MIN_DAYS and PIGE_STORAGE_MIN_FREE_PERCENT override the defaults."""
        values = {}
        variables = {"min_days": "PIGE_STORAGE_MIN_DAYS", "min_free_percent": "PIGE_STORAGE_MIN_FREE_PERCENT"}
        for field_name, var in variables.items():
            raw = os.environ.get(var)
            if raw:
                try:
                    values[field_name] = float(raw)
                except ValueError:
                    raise ValueError(f"{var}={raw!r} is not a number (example: {var}=14)") from None
        return cls(**values)


@dataclass(frozen=True)
class StorageSample:
    at: datetime
    total_bytes: int
    used_bytes: int
    free_bytes: int

    def to_json(self) -> str:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, line: str) -> StorageSample:
        data = json.loads(line)
        return cls(
            at=utc(datetime.fromisoformat(data["at"])),
            total_bytes=int(data["total_bytes"]),
            used_bytes=int(data["used_bytes"]),
            free_bytes=int(data["free_bytes"]),
        )


@dataclass(frozen=True)
class StorageHealth:
    """One storage health reading of the data root's file system."""

    at: datetime
    path: Path
    total_bytes: int
    used_bytes: int
    free_bytes: int
    growth_bytes_per_day: float | None  # None: not enough history yet
    recording_bytes_per_day: float  # 0.0: nothing recorded in the last week
    samples: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 0.0

    @property
    def time_to_full(self) -> timedelta | None:
        """At the observed net growth; None while the disk is not filling (or history is too short)."""
        if not self.growth_bytes_per_day or self.growth_bytes_per_day <= 0:
            return None
        return timedelta(days=self.free_bytes / self.growth_bytes_per_day)

    @property
    def days_of_recording_fit(self) -> float | None:
        """Days of recording at the current rate that the free space holds; None when nothing records."""
        if self.recording_bytes_per_day <= 0:
            return None
        return self.free_bytes / self.recording_bytes_per_day

    def problems(self, thresholds: StorageThresholds) -> list[str]:
        """Why this reading needs attention; empty when healthy."""
        found = []
        days = self.days_of_recording_fit
        if days is not None and days < thresholds.min_days:
            found.append(
                f"only {days:.1f} days of recording fit on {self.path} "
                f"({_human(self.free_bytes)} free, {_human(self.recording_bytes_per_day)}/day recorded; "
                f"threshold {thresholds.min_days:g} days)"
            )
        if self.free_percent < thresholds.min_free_percent:
            found.append(
                f"{self.path}: {self.free_percent:.1f}% free, below {thresholds.min_free_percent:g}%"
            )
        ttf = self.time_to_full
        if ttf is not None and ttf < timedelta(days=thresholds.min_days):
            days_left = ttf.total_seconds() / 86400
            found.append(f"{self.path} fills up in {days_left:.1f} days at the current growth")
        return found


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TB"


human_bytes = _human


def history_path(data_root: Path) -> Path:
    return data_root / "state" / "storage" / "history.jsonl"


def sample_disk(path: Path, at: datetime | None = None) -> StorageSample:
    usage = shutil.disk_usage(path)
    return StorageSample(utc(at or datetime.now(UTC)), usage.total, usage.used, usage.free)


def read_history(data_root: Path) -> list[StorageSample]:
    """Samples, oldest first; lines that cannot be parsed are skipped."""
    path = history_path(data_root)
    if not path.exists():
        return []
    samples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            samples.append(StorageSample.from_json(line))
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(samples, key=lambda s: s.at)


def record_sample(data_root: Path, sample: StorageSample) -> list[StorageSample]:
    """Add a sample and drop those older than HISTORY_KEEP; returns the kept history."""
    history = [s for s in read_history(data_root) if s.at >= sample.at - HISTORY_KEEP]
    history.append(sample)
    path = history_path(data_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(s.to_json() + "\n" for s in history), encoding="utf-8")
    os.replace(tmp, path)
    return history


def growth_rate(
    samples: list[StorageSample], now: datetime, window: timedelta = GROWTH_WINDOW
) -> float | None:
    """Least-squares slope of used bytes, in bytes per day, over the samples of the last `window`."""
    recent = sorted((s for s in samples if now - window <= s.at <= now), key=lambda s: s.at)
    if len(recent) < 2 or recent[-1].at - recent[0].at < MIN_GROWTH_SPAN:
        return None
    xs = [(s.at - recent[0].at).total_seconds() / 86400 for s in recent]
    ys = [float(s.used_bytes) for s in recent]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var_x = sum((x - mean_x) ** 2 for x in xs)
    if var_x == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var_x


def recording_rate(data_root: Path, now: datetime, window: timedelta = RECORDING_WINDOW) -> float:
    """Bytes per day the stations recorded lately, each station over the span it actually recorded."""
    total = 0.0
    for station in stations_in_store(data_root):
        chunks = list_chunks(data_root, station, now - window, now)
        if not chunks:
            continue
        size = 0
        for chunk in chunks:
            try:
                size += chunk.path.stat().st_size
            except FileNotFoundError:
                continue
        # A station recording for 2 hours must not be averaged over a week.
        span = max(now - chunks[0].start, timedelta(hours=1))
        total += size / (span.total_seconds() / 86400)
    return total


def check_storage(data_root: Path, now: datetime | None = None, record: bool = True) -> StorageHealth:
    """Measure the data root's disk, add the sample to the history and compute the forecasts."""
    now = utc(now or datetime.now(UTC))
    data_root.mkdir(parents=True, exist_ok=True)
    sample = sample_disk(data_root, now)
    history = record_sample(data_root, sample) if record else [*read_history(data_root), sample]
    return StorageHealth(
        at=now,
        path=data_root,
        total_bytes=sample.total_bytes,
        used_bytes=sample.used_bytes,
        free_bytes=sample.free_bytes,
        growth_bytes_per_day=growth_rate(history, now),
        recording_bytes_per_day=recording_rate(data_root, now),
        samples=len(history),
    )
