"""The hour's "conducteur": speech, music, silence and unknown spans, from VAD and other domains' results.

Speech is Silero voice activity (shipped inside faster-whisper) minus the music that airplay found
(`airplay_events`, `unknown_music`) and minus `silences`, wherever those hourly files exist. Audio that
is none of these is `unknown` (music that airplay does not know, noise), and so is any part of the hour
with no recording (`source` = `no_audio`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from pige_pipeline.audio.decode import SPEECH_SAMPLE_RATE
from pige_pipeline.store.hour_audio import HOUR_S
from pige_pipeline.store.parquet import read_asset_hour

Span = tuple[float, float]

# VAD runs on blocks of this length so that an hour never needs a second full-size float copy.
VAD_BLOCK_S = 600.0
# Pauses shorter than this inside talk stay part of the speech span (breaths, hesitations).
SPEECH_JOIN_GAP_S = 1.0
# Speech left shorter than this after removing music and silence is not worth a Whisper window.
MIN_SPEECH_S = 0.4
MUSIC_ASSETS = ("airplay_events", "unknown_music")
SILENCE_ASSET = "silences"
# Precedence when spans overlap: a known silence or a known play beats the VAD's opinion.
KIND_ORDER = ("no_audio", "silence", "music", "speech")


@dataclass(frozen=True)
class TimelineSpan:
    start_s: float
    end_s: float
    kind: str  # speech / music / silence / unknown
    source: str  # vad / airplay / silences / no_audio / none

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def merge_spans(spans: Iterable[Span], max_gap: float = 0.0) -> list[Span]:
    """Union of spans; spans closer than `max_gap` are joined."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start - merged[-1][1] <= max_gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def subtract_spans(spans: Sequence[Span], remove: Sequence[Span]) -> list[Span]:
    """Parts of `spans` not covered by `remove`."""
    out: list[Span] = []
    cuts = merge_spans(remove)
    for start, end in merge_spans(spans):
        cursor = start
        for cut_start, cut_end in cuts:
            if cut_end <= cursor or cut_start >= end:
                continue
            if cut_start > cursor:
                out.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
        if cursor < end:
            out.append((cursor, end))
    return out


def detect_voice(
    pieces: Sequence[tuple[float, np.ndarray]], sample_rate: int = SPEECH_SAMPLE_RATE
) -> list[Span]:
    """Voice-activity spans (seconds into the hour) of decoded int16 pieces (offset_s, samples)."""
    options = VadOptions(
        threshold=0.5, min_speech_duration_ms=250, min_silence_duration_ms=300, speech_pad_ms=200
    )
    block = int(VAD_BLOCK_S * sample_rate)
    found: list[Span] = []
    for offset_s, samples in pieces:
        for first in range(0, len(samples), block):
            audio = samples[first : first + block].astype(np.float32) / 32768.0
            base = offset_s + first / sample_rate
            for ts in get_speech_timestamps(audio, options, sampling_rate=sample_rate):
                found.append((base + ts["start"] / sample_rate, base + ts["end"] / sample_rate))
    return merge_spans(found)


def spans_from_asset(data_root: Path, asset: str, station: str, hour: datetime) -> list[Span] | None:
    """(start_s, end_s) of an hourly asset's rows, or None when that hour's file does not exist."""
    frame = read_asset_hour(data_root, asset, station, hour)
    if frame is None:
        return None
    if not len(frame) or "start_s" not in frame or "end_s" not in frame:
        return []
    return [(float(a), float(b)) for a, b in zip(frame["start_s"], frame["end_s"], strict=True) if b > a]


def build_timeline(
    recorded: Sequence[Span],
    voice: Sequence[Span],
    music: Sequence[Span] = (),
    silences: Sequence[Span] = (),
    hour_s: float = HOUR_S,
) -> list[TimelineSpan]:
    """Label every second of the hour once, by precedence no_audio > silence > music > speech > unknown."""
    no_audio = subtract_spans([(0.0, hour_s)], recorded)
    speech = [s for s in subtract_spans(merge_spans(voice, SPEECH_JOIN_GAP_S), [*music, *silences])
              if s[1] - s[0] >= MIN_SPEECH_S]  # fmt: skip
    layers = {
        "no_audio": merge_spans(no_audio),
        "silence": merge_spans(silences),
        "music": merge_spans(music),
        "speech": merge_spans(speech),
    }
    points = sorted({0.0, hour_s, *(p for spans in layers.values() for span in spans for p in span)})
    points = [p for p in points if 0.0 <= p <= hour_s]
    labelled: list[TimelineSpan] = []
    for start, end in zip(points, points[1:], strict=False):
        if end - start <= 1e-6:
            continue
        middle = (start + end) / 2
        kind = next((k for k in KIND_ORDER if any(a <= middle < b for a, b in layers[k])), "unknown")
        span = _span(start, end, kind)
        if labelled and labelled[-1].kind == span.kind and labelled[-1].source == span.source:
            labelled[-1] = TimelineSpan(labelled[-1].start_s, end, span.kind, span.source)
        else:
            labelled.append(span)
    return labelled


def _span(start: float, end: float, layer: str) -> TimelineSpan:
    kind, source = {
        "no_audio": ("unknown", "no_audio"),
        "silence": ("silence", "silences"),
        "music": ("music", "airplay"),
        "speech": ("speech", "vad"),
        "unknown": ("unknown", "none"),
    }[layer]
    return TimelineSpan(start, end, kind, source)


def timeline_rows(spans: Sequence[TimelineSpan], hour: datetime) -> list[dict]:
    """`speech_segments` rows (without station and hour, which the writer fills in)."""
    return [
        {
            "start": hour + timedelta(seconds=s.start_s),
            "end": hour + timedelta(seconds=s.end_s),
            "start_s": round(s.start_s, 3),
            "end_s": round(s.end_s, 3),
            "duration_s": round(s.duration_s, 3),
            "kind": s.kind,
            "source": s.source,
        }
        for s in spans
    ]


def hour_timeline(
    data_root: Path, station: str, hour: datetime, pieces: Sequence[tuple[float, np.ndarray]]
) -> tuple[list[TimelineSpan], dict[str, bool]]:
    """The station-hour's timeline from decoded pieces and whatever airplay/silence results exist."""
    recorded = [(off, off + len(samples) / SPEECH_SAMPLE_RATE) for off, samples in pieces]
    music: list[Span] = []
    used: dict[str, bool] = {}
    for asset in MUSIC_ASSETS:
        spans = spans_from_asset(data_root, asset, station, hour)
        used[asset] = spans is not None
        music += spans or []
    silences = spans_from_asset(data_root, SILENCE_ASSET, station, hour)
    used[SILENCE_ASSET] = silences is not None
    return build_timeline(recorded, detect_voice(pieces), music, silences or []), used


def expected_speech_seconds(data_root: Path, station: str, hour: datetime) -> float:
    """The seconds of the hour left for Whisper, estimated before any decode: recorded audio less music
    and silence, from the hour's `audio_chunks`, airplay and silence results (a full hour when absent).

    Orders the hour's speech steps longest first (`lib/hourly.py`): Whisper's cost follows it.
    """
    chunks = read_asset_hour(data_root, "audio_chunks", station, hour)
    recorded = HOUR_S
    if chunks is not None and len(chunks) and "duration_s" in chunks:
        recorded = min(HOUR_S, float(chunks["duration_s"].fillna(0).sum()))
    taken: list[Span] = []
    for asset in (*MUSIC_ASSETS, SILENCE_ASSET):
        taken += spans_from_asset(data_root, asset, station, hour) or []
    return max(0.0, recorded - sum(b - a for a, b in merge_spans(taken)))
