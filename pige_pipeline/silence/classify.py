"""Natural or suspect: rule-based classification of a dead-air event from what surrounds it.

The rules read what the other domains know about the hour: plays (`airplay_events`), words
(`transcripts`), and what the detector measured (the kind of silence, the fade before it). Each
rule gives a confidence and an explanation a duty engineer can check in ten seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import pandas as pd

from pige_pipeline.silence.reference import ReferenceAudio, ReferenceCheck
from pige_pipeline.stations import SilenceSettings

RULES_CLASSIFIER = "rules"
# A silence that starts this close to the top of the (local) hour is a network join or a news jingle.
TOP_OF_HOUR_S = 15.0
# A play edge this close to the silence's edge is "on that side" of it (the matcher's boundary error).
PLAY_EDGE_S = 2.0
# Share of the reference's span that must be silent for the silence to be the track's own pause.
REFERENCE_SILENT_SHARE = 0.6
# Level falling faster than this (dB/s) over the 3 s before the onset is a fade-out.
FADE_DB_PER_S = -6.0
ANNOUNCED = re.compile(
    r"minute(s)? (de|of) silence|moment (de|of) silence|minute de recueillement|observons (une|un) ",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DeadAirEvent:
    """One stitched silence, whole across hour boundaries."""

    station: str
    start: datetime
    end: datetime
    level_db: float
    kind: str
    fade_db_per_s: float | None = None
    ongoing: bool = False  # it reaches the end of the audio seen so far

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class EventContext:
    """What other domains recorded around the event (UTC `start`/`end` columns); None when absent."""

    airplay: pd.DataFrame | None = None
    transcripts: pd.DataFrame | None = None
    timezone: str = "UTC"
    notes: list[str] = field(default_factory=list)
    # The catalogue's audio, to tell a track's own pause from programme lost inside it.
    reference: ReferenceAudio | None = None

    def words_before(self, moment: datetime, seconds: float = 60.0) -> str:
        return self._words(moment - timedelta(seconds=seconds), moment)

    def words_between(self, start: datetime, end: datetime) -> str:
        return self._words(start, end)

    def _words(self, start: datetime, end: datetime) -> str:
        t = self.transcripts
        if t is None or t.empty:
            return ""
        keep = (t["end"] > pd.Timestamp(start)) & (t["start"] < pd.Timestamp(end))
        if "dropped" in t.columns:
            keep &= ~t["dropped"].fillna(False).astype(bool)
        return " ".join(str(x).strip() for x in t.loc[keep].sort_values("start")["text"] if str(x).strip())


@dataclass(frozen=True)
class Classification:
    classification: str  # natural / suspect
    confidence: float
    explanation: str
    classifier: str = RULES_CLASSIFIER


class EventClassifier(Protocol):
    """Anything that can judge an event (the rules, or an LLM through pige_pipeline.llm)."""

    def __call__(
        self, event: DeadAirEvent, ctx: EventContext, settings: SilenceSettings
    ) -> Classification: ...


def _play_label(row: pd.Series) -> str:
    title = row.get("title") or row.get("track_id") or "a catalogue track"
    artist = row.get("artist")
    return f"'{title}'" + (f" by {artist}" if artist else "")


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _speed(row: pd.Series) -> float:
    speed = row.get("speed")
    return float(speed) if speed is not None and pd.notna(speed) and speed > 0 else 1.0


def _inside_play(
    plays: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.Series, float] | None:
    """The play the silence sits in (the same track on both sides) and the reference offset at its start.

    Either one play runs through it (the matcher bridges gaps to survive talk-over), or two plays of one
    track end and start at its edges.
    """
    edge = pd.Timedelta(seconds=PLAY_EDGE_S)

    def ref_at(row: pd.Series, moment: pd.Timestamp) -> float:
        offset = row.get("ref_offset_s")
        offset = float(offset) if offset is not None and pd.notna(offset) else 0.0
        return offset + (moment - row["start"]).total_seconds() * _speed(row)

    spanning = plays[(plays["start"] <= start - pd.Timedelta(seconds=1)) & (plays["end"] >= end)]
    if len(spanning):
        row = spanning.iloc[0]
        return row, ref_at(row, start)
    before = plays[(plays["end"] >= start - edge) & (plays["end"] <= start + edge) & (plays["start"] < start)]
    after = plays[(plays["start"] >= end - edge) & (plays["start"] <= end + edge) & (plays["end"] > end)]
    for _, row in before.iterrows():
        if "track_id" in plays.columns and row["track_id"] in set(after["track_id"]):
            return row, ref_at(row, start)
    return None


def _inside_play_verdict(
    event: DeadAirEvent, row: pd.Series, ref_start_s: float, ctx: EventContext, settings: SilenceSettings
) -> Classification:
    """Inside a track: its own pause if the reference is silent there, else programme lost."""
    d = event.duration_s
    label = _play_label(row)
    speed = _speed(row)
    check: ReferenceCheck | None = None
    if ctx.reference is not None and row.get("track_id") is not None:
        check = ctx.reference.check(str(row["track_id"]), ref_start_s, d * speed, settings.threshold_db)
    span = f"{_clock(ref_start_s)}-{_clock(ref_start_s + d * speed)} of the track"
    if check is not None and check.silent_share >= REFERENCE_SILENT_SHARE:
        return Classification(
            "natural", 0.85, f"inside {label}: the track itself is silent there ({span}: "
            f"{check.silent_share:.0%} silent in the catalogue audio, median {check.level_db:.0f} dBFS), "
            "so the pause is the recording's own",
        )  # fmt: skip
    if d < settings.alert_seconds:
        return Classification("natural", 0.6, f"{d:.1f} s pause inside {label}, under the alert duration")
    if check is not None:
        return Classification(
            "suspect", 0.9, f"programme lost inside {label}: {d:.0f} s of {event.kind.replace('_', ' ')} "
            f"while the same track plays on both sides, and the catalogue audio has programme there "
            f"({span}: median {check.level_db:.0f} dBFS, {check.silent_share:.0%} silent)",
        )  # fmt: skip
    return Classification(
        "suspect", 0.8, f"programme lost inside {label}: {d:.0f} s of {event.kind.replace('_', ' ')} while "
        f"the same track plays on both sides ({span}; its catalogue audio could not be read to check for "
        "a pause of its own)",
    )  # fmt: skip


def _seconds_from_top_of_hour(moment: datetime, timezone: str) -> float:
    local = moment.astimezone(ZoneInfo(timezone))
    into = local.minute * 60 + local.second + local.microsecond / 1e6
    return min(into, 3600.0 - into)


def classify_rules(event: DeadAirEvent, ctx: EventContext, settings: SilenceSettings) -> Classification:
    """The default classifier: the first rule that applies decides."""
    d = event.duration_s
    said = ctx.words_before(event.start)
    if ANNOUNCED.search(said) and d <= 180:
        return Classification("natural", 0.9, f"announced just before: “{said[-120:]}”")
    if event.kind == "hum":
        return Classification(
            "suspect", 0.9, f"{d:.0f} s of steady hum at {event.level_db:.0f} dBFS with no programme: "
            "a line or equipment fault",
        )  # fmt: skip
    plays = ctx.airplay
    if plays is not None and not plays.empty:
        start, end = pd.Timestamp(event.start), pd.Timestamp(event.end)
        inside = _inside_play(plays, start, end)
        if inside is not None:
            row, ref_start_s = inside
            return _inside_play_verdict(event, row, ref_start_s, ctx, settings)
        cut = plays[
            (plays["end"] >= start - pd.Timedelta(seconds=2)) & (plays["end"] <= start + pd.Timedelta(1, "s"))
        ]
        fading = event.fade_db_per_s is not None and event.fade_db_per_s <= FADE_DB_PER_S
        if len(cut) and not fading:
            return Classification(
                "suspect", 0.85, f"cuts {_play_label(cut.iloc[0])} off without a fade-out, "
                f"then {d:.0f} s of {event.kind.replace('_', ' ')}",
            )  # fmt: skip
    if d >= settings.critical_seconds:
        return Classification(
            "suspect", 0.95, f"{d:.0f} s of {event.kind.replace('_', ' ')}: past the critical "
            f"{settings.critical_seconds:.0f} s, no planned pause lasts that long unannounced",
        )  # fmt: skip
    from_top = _seconds_from_top_of_hour(event.start, ctx.timezone)
    if from_top <= TOP_OF_HOUR_S and d < settings.warning_seconds:
        return Classification(
            "natural", 0.7, f"{d:.0f} s pause {from_top:.0f} s from the top of the hour "
            "(network join, news jingle)",
        )  # fmt: skip
    if (
        event.fade_db_per_s is not None
        and event.fade_db_per_s <= FADE_DB_PER_S
        and d < settings.warning_seconds
    ):
        return Classification(
            "natural", 0.65, f"after a fade-out ({event.fade_db_per_s:.0f} dB/s): the end of a programme "
            f"followed by a {d:.0f} s pause",
        )  # fmt: skip
    confidence = round(0.6 + 0.35 * min(1.0, d / settings.critical_seconds), 2)
    what = event.kind.replace("_", " ")
    return Classification(
        "suspect", confidence, f"{d:.0f} s of {what} at {event.level_db:.0f} dBFS with no planned reason "
        "found (not at the top of the hour, no fade-out, not inside a track)",
    )  # fmt: skip
