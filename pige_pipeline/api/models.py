"""The API's response shapes (they make the OpenAPI document that clients and the fuzzing test read)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

Item = TypeVar("Item")


class Problem(BaseModel):
    """Why a request was refused, and what to do."""

    detail: str


class Page(BaseModel, Generic[Item]):
    """One page of a listing; pass `next_cursor` back as `cursor` for the next (null: the last page)."""

    items: list[Item]
    next_cursor: str | None = None


class StationOut(BaseModel):
    station: str
    name: str
    timezone: str = Field(description="IANA zone the station's times are given in.")
    language: str | None
    enabled: bool | None
    in_registry: bool | None = Field(description="False: a station with data no longer in stations.yaml.")


class PlayOut(BaseModel):
    play_id: str
    station: str
    track_id: str
    title: str | None
    artist: str | None
    isrc: str | None
    start: datetime
    end: datetime
    seconds: float | None = Field(description="Seconds aired (the sum of the play's pieces).")
    segments: int | None
    score: float | None
    confidence: float | None


class StationStatementLine(BaseModel):
    station: str
    track_id: str
    title: str | None
    artist: str | None
    isrc: str | None
    plays: int
    seconds: float
    first_play: datetime
    last_play: datetime


class RightsHolderStatementLine(BaseModel):
    role: str = Field(
        description="publisher, label, composer, 'unassigned', or 'artist' without rights columns."
    )
    rights_holder: str
    track_id: str
    title: str | None
    artist: str | None
    isrc: str | None
    plays: int
    seconds: float
    stations: int
    first_play: datetime = Field(description="UTC: the lines add up plays of stations in several zones.")
    last_play: datetime


class Statement(BaseModel, Generic[Item]):
    month: str
    period: str = Field(description="'local': each station's own month (stations.yaml timezone).")
    lines: list[Item]
    notes: list[str] = Field(default_factory=list)


class DeadAirOut(BaseModel):
    alert_id: str
    alert_ids: str | None = Field(description="Every alert id the event was stitched from, comma-separated.")
    station: str
    start: datetime
    end: datetime
    duration_s: float | None
    severity: str | None
    classification: str | None
    confidence: float | None
    notification_status: str | None
    notified_at: datetime | None
    explanation: str | None


class CoverageHour(BaseModel):
    station: str
    hour: datetime
    status: str = Field(description="ok, short, missing, unreadable, partly_unreadable or not_processed.")
    recorded_s: float
    coverage: float
    gap_s: float
    gap_causes: str


class GapOut(BaseModel):
    station: str
    start: datetime
    end: datetime | None
    cause: str | None
    detail: str | None
    still_open: bool | None


class Coverage(BaseModel):
    hours: list[CoverageHour]
    gaps: list[GapOut]


class TranscriptHit(BaseModel):
    segment_id: str | None
    station: str
    start: datetime
    end: datetime
    text: str
    language: str | None


class Health(BaseModel):
    status: str = Field(description="'ok', or 'no_analytics' while the analytics database is not built.")
    analytics_built_at: str | None
    analytics_mode: str | None


ERRORS = {
    401: {"model": Problem, "description": "No token, or one that is not valid."},
    403: {"model": Problem, "description": "The token's role or stations do not cover this."},
    503: {"model": Problem, "description": "The analytics database is not built yet."},
}
NOT_FOUND = {404: {"model": Problem, "description": "No such item in this token's stations."}}
BAD_REQUEST = {400: {"model": Problem, "description": "A cursor or filter that cannot be used."}}
