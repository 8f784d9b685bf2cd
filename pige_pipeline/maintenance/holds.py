"""Legal holds: time ranges of a station's audio that retention must keep, whatever its age.

The holds live in `{data_root}/state/legal_holds.yaml`, managed with `pige hold add/ls/rm`:

    holds:
      - id: court-2026-041
        station: radio-a          # or "*" for every station
        start: 2026-03-01T00:00:00Z
        end: 2026-03-08T00:00:00Z
        reason: Court order 2026/041, defamation claim
        created_at: 2026-11-22T10:00:00Z
        created_by: alice

A file that cannot be read stops retention altogether: deleting audio while a hold is unreadable could
destroy evidence, keeping it one more day costs only disk space.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pige_pipeline.hours import utc
from pige_pipeline.stations import STATION_ID_PATTERN

ALL_STATIONS = "*"
_HOLD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class LegalHoldError(ValueError):
    """The legal holds file or a hold cannot be used; the message names the file and the hold."""


class LegalHold(BaseModel):
    """Audio of `station` between `start` and `end` (UTC) must be kept."""

    model_config = ConfigDict(extra="forbid")

    id: str
    station: str
    start: datetime
    end: datetime
    reason: str = Field(min_length=1)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    created_by: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _HOLD_ID.fullmatch(value):
            raise ValueError(f"hold id {value!r}: use 1-64 letters, digits, '.', '_' or '-'")
        return value

    @field_validator("station")
    @classmethod
    def _station(cls, value: str) -> str:
        if value != ALL_STATIONS and not STATION_ID_PATTERN.fullmatch(value):
            raise ValueError(f"station {value!r} is not a station id (or '*' for every station)")
        return value

    @field_validator("start", "end", "created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> LegalHold:
        if self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat()} must be after start {self.start.isoformat()}")
        return self

    def covers(self, station: str, start: datetime, end: datetime) -> bool:
        """True when the hold applies to `station` and overlaps [start, end)."""
        return self.station in (ALL_STATIONS, station) and self.start < end and start < self.end


def holds_path(data_root: Path) -> Path:
    return data_root / "state" / "legal_holds.yaml"


def load_holds(data_root: Path) -> list[LegalHold]:
    """Every hold in the file (none if the file does not exist); raises `LegalHoldError` if unusable."""
    path = holds_path(data_root)
    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LegalHoldError(
            f"{path}: cannot be read ({exc}); fix or restore it, retention is paused"
        ) from None
    if raw is None:
        return []
    if not isinstance(raw, dict) or not isinstance(raw.get("holds", []), list):
        raise LegalHoldError(f"{path}: expected a mapping with a 'holds:' list; retention is paused")
    holds: list[LegalHold] = []
    for index, entry in enumerate(raw.get("holds") or []):
        try:
            holds.append(LegalHold.model_validate(entry))
        except ValidationError as exc:
            name = entry.get("id") if isinstance(entry, dict) else None
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            label = f"hold #{index + 1}" + (f" ({name!r})" if name else "")
            raise LegalHoldError(
                f"{path}: {label}: {problems}; retention is paused until it is fixed"
            ) from None
    seen: set[str] = set()
    for hold in holds:
        if hold.id in seen:
            raise LegalHoldError(f"{path}: hold id {hold.id!r} appears twice; retention is paused")
        seen.add(hold.id)
    return holds


def save_holds(data_root: Path, holds: list[LegalHold]) -> Path:
    """Write the holds file atomically."""
    path = holds_path(data_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"holds": [h.model_dump(mode="json") for h in holds]}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(
        "# Legal holds: audio retention must keep (pige hold add/ls/rm).\n"
        + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    os.replace(tmp, path)
    return path


def add_hold(data_root: Path, hold: LegalHold) -> LegalHold:
    holds = load_holds(data_root)
    if any(h.id == hold.id for h in holds):
        raise LegalHoldError(f"a hold with id {hold.id!r} already exists in {holds_path(data_root)}")
    save_holds(data_root, [*holds, hold])
    return hold


def remove_hold(data_root: Path, hold_id: str) -> LegalHold:
    holds = load_holds(data_root)
    kept = [h for h in holds if h.id != hold_id]
    if len(kept) == len(holds):
        known = ", ".join(h.id for h in holds) or "none"
        raise LegalHoldError(f"no hold {hold_id!r} in {holds_path(data_root)} (holds: {known})")
    save_holds(data_root, kept)
    return next(h for h in holds if h.id == hold_id)
