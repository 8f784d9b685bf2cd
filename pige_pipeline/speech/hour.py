"""One station-hour of speech, end to end: one 16 kHz decode feeds the timeline and Whisper."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pige_pipeline.audio.decode import SPEECH_SAMPLE_RATE
from pige_pipeline.hours import hour_start
from pige_pipeline.llm import OllamaSettings
from pige_pipeline.speech.mentions import find_mentions
from pige_pipeline.speech.summarise import summarise_hour
from pige_pipeline.speech.timeline import TimelineSpan, hour_timeline, timeline_rows
from pige_pipeline.speech.transcribe import Transcriber, Transcription, transcript_rows
from pige_pipeline.stations import Station
from pige_pipeline.store.hour_audio import NoAudioError, decode_hour_pieces, load_hour_audio, require_parts
from pige_pipeline.store.parquet import read_asset_hour


@dataclass
class SpeechHour:
    """What speech found in one station-hour."""

    timeline: list[TimelineSpan]
    inputs_used: dict[str, bool]  # which other domains' results were there to subtract
    transcription: Transcription | None
    recorded_s: float

    @property
    def speech_s(self) -> float:
        return sum(s.duration_s for s in self.timeline if s.kind == "speech")


def decode_speech(data_root: Path, station: str, hour: datetime) -> list[tuple[float, np.ndarray]]:
    """The hour's audio at 16 kHz as contiguous (offset_s, int16 samples) pieces; `NoAudioError` if none."""
    parts = require_parts(load_hour_audio(data_root, station, hour))
    return decode_hour_pieces(parts, SPEECH_SAMPLE_RATE)


def analyse_hour(
    data_root: Path, station: Station, hour: datetime, transcriber: Transcriber | None
) -> SpeechHour:
    """Timeline, then Whisper on its speech spans (skipped when `transcriber` is None or speech is off)."""
    hour = hour_start(hour)
    pieces = decode_speech(data_root, station.id, hour)
    timeline, used = hour_timeline(data_root, station.id, hour, pieces)
    recorded = sum(len(s) for _, s in pieces) / SPEECH_SAMPLE_RATE
    result = None
    if transcriber is not None and station.speech.enabled:
        spans = [(s.start_s, s.end_s) for s in timeline if s.kind == "speech"]
        result = transcriber.transcribe_spans(pieces, spans, station.language)
    return SpeechHour(timeline, used, result, recorded)


def speech_outputs(
    hour_result: SpeechHour, station: Station, hour: datetime, model: str
) -> dict[str, list[dict]]:
    """Rows for `speech_segments` and `transcripts`."""
    hour = hour_start(hour)
    rows = {"speech_segments": timeline_rows(hour_result.timeline, hour), "transcripts": []}
    if hour_result.transcription is not None:
        rows["transcripts"] = transcript_rows(hour_result.transcription, hour, station.id, model)
    return rows


def read_transcript(data_root: Path, station: str, hour: datetime) -> pd.DataFrame:
    """The station-hour's transcripts, or `NoAudioError` when that hour was never transcribed."""
    transcript = read_asset_hour(data_root, "transcripts", station, hour)
    if transcript is None:
        raise NoAudioError(
            f"station {station!r}, hour {hour_start(hour):%Y-%m-%d %H:00Z}: no transcripts file "
            "(no usable audio, or `transcripts` has not run for this hour yet)"
        )
    return transcript


def summary_for_hour(data_root: Path, station: Station, hour: datetime, llm: OllamaSettings | None) -> dict:
    """The `summaries` row of one station-hour, from its transcripts file."""
    return summarise_hour(read_transcript(data_root, station.id, hour), llm, station.language)


def mentions_for_hour(data_root: Path, station: Station, hour: datetime) -> list[dict]:
    """`mentions` rows of one station-hour, from its transcripts file and the station's watch terms."""
    return find_mentions(read_transcript(data_root, station.id, hour), station.speech.watch_terms)
