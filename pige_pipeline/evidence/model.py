"""What a statement line's evidence is: the station, the UTC span and the chunk files holding it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict


class EvidenceError(Exception):
    """Evidence that cannot be given; the message says why and what to do."""


class EvidenceNotFound(EvidenceError):
    """No play or dead-air alert has this id in the analytics database."""


class EvidenceUnavailable(EvidenceError):
    """The line is known but its audio is not: a chunk is missing, expired or does not reach that far."""


class ChunkSpan(BaseModel):
    """The part of one chunk file that holds (some of) the line, in seconds from the file's start."""

    model_config = ConfigDict(frozen=True)

    path: Path  # relative to the data root, as recorded by the analytics build
    start_s: float
    end_s: float | None  # None: to the end of the file


class Evidence(BaseModel):
    """A play or a dead-air alert, with the chunk spans it was detected in."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    kind: Literal["play", "dead_air"]
    station: str
    start: datetime  # UTC
    end: datetime  # UTC
    label: str  # "artist - title" of a play, "severity classification" of an alert
    spans: list[ChunkSpan]

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()
