"""Speech assets: the hour's timeline and transcripts (one decode, one Whisper load), summaries, mentions."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import dagster as dg

from pige_pipeline.lib.hourly import (
    HourlyOutput,
    StationFailure,
    StationHour,
    StationOutput,
    station_hour_asset,
    station_hour_multi_asset,
)
from pige_pipeline.lib.resources import LLMResource, WhisperResource
from pige_pipeline.llm import OllamaSettings
from pige_pipeline.scale.settings import SPEECH_QUEUE
from pige_pipeline.settings import PigeSettings
from pige_pipeline.speech.hour import decode_speech, mentions_for_hour, summary_for_hour
from pige_pipeline.speech.schemas import (
    MENTIONS_SCHEMA,
    SPEECH_SEGMENTS_SCHEMA,
    SUMMARIES_SCHEMA,
    TRANSCRIPTS_SCHEMA,
)
from pige_pipeline.speech.timeline import expected_speech_seconds, hour_timeline, timeline_rows
from pige_pipeline.speech.transcribe import Transcriber, transcript_rows
from pige_pipeline.stations import Station

# Other domains' hourly results that the timeline subtracts from speech when their files exist. Declared
# as deps by key only (never by import), so that `process_hour` runs them first.
UPSTREAM_RESULTS = ("silences", "airplay_events", "unknown_music")


def _load_transcriber(
    context: dg.OpExecutionContext, _settings: PigeSettings, stations: list[Station]
) -> Any:
    if not any(s.speech.enabled for s in stations):
        return None
    whisper: WhisperResource = context.resources.whisper
    transcriber = whisper.transcriber()
    context.log.info(
        f"Whisper model {transcriber.model_label}, loaded once per worker process (pid {os.getpid()})"
    )
    return transcriber


def _expected_speech(settings: PigeSettings, hour: datetime, station: Station) -> float:
    if not station.speech.enabled:
        return 0.0
    return expected_speech_seconds(settings.data_root, station.id, hour)


def _speech(sh: StationHour, transcriber: Transcriber | None) -> dict[str, Any]:
    root, station = sh.settings.data_root, sh.station
    pieces = decode_speech(root, station.id, sh.hour)
    timeline, used = hour_timeline(root, station.id, sh.hour, pieces)
    outputs: dict[str, Any] = {"speech_segments": StationOutput(timeline_rows(timeline, sh.hour))}
    if transcriber is None or not station.speech.enabled:
        outputs["transcripts"] = []
        return outputs
    spans = [(s.start_s, s.end_s) for s in timeline if s.kind == "speech"]
    try:
        result = transcriber.transcribe_spans(pieces, spans, station.language)
    except Exception as exc:  # the timeline is still worth writing
        outputs["transcripts"] = StationFailure(f"transcription failed: {type(exc).__name__}: {exc}")
        return outputs
    rows = transcript_rows(result, sh.hour, station.id, transcriber.model_label)
    dropped = sum(1 for r in rows if r["dropped"])
    missing = [name for name, present in used.items() if not present]
    sh.log.info(
        f"{station.id}: {result.audio_s:.0f} s of speech sent to Whisper in {result.seconds:.0f} s "
        f"({result.audio_s / max(result.seconds, 1e-6):.1f}x), language {result.language}, "
        f"{len(rows)} segments, {dropped} dropped"
        + (f"; not subtracted (no file): {', '.join(missing)}" if missing else "")
    )
    outputs["transcripts"] = StationOutput(rows)
    return outputs


speech = station_hour_multi_asset(
    name="speech",
    outputs=[
        HourlyOutput(
            name="speech_segments",
            description="The hour's conducteur per station: speech, music, silence and unknown spans.",
            schema=SPEECH_SEGMENTS_SCHEMA,
        ),
        HourlyOutput(
            name="transcripts",
            description="Whisper transcript of the hour's speech per station, with dropped hallucinations.",
            schema=TRANSCRIPTS_SCHEMA,
            check_description="Fails the hour when a station's speech could not be transcribed, naming it.",
        ),
    ],
    compute=_speech,
    deps=UPSTREAM_RESULTS,
    setup=_load_transcriber,
    resources=["whisper"],
    group_name="speech",
    # Whisper steps go to the speech queue, so that GPU workers can take them (README, "Add a machine").
    queue=SPEECH_QUEUE,
    # Longest Whisper steps first: the hour ends with its last step.
    cost=_expected_speech,
)


def _llm_settings(context: dg.OpExecutionContext, _settings: PigeSettings, _stations: list[Station]) -> Any:
    resource: LLMResource = context.resources.llm
    llm = resource.ollama_settings()
    if llm.enabled:
        context.log.info(f"summaries through Ollama at {llm.host}, model {llm.model}")
    else:
        context.log.info(
            "OLLAMA_HOST unset: offline summaries, redone by summaries_redo_sensor once it is set"
        )
    return llm


def _summary(sh: StationHour, llm: OllamaSettings) -> StationOutput:
    row = summary_for_hour(sh.settings.data_root, sh.station, sh.hour, llm)
    problem = f"LLM summary failed: {row['error']}" if row["status"] == "failed" else None
    return StationOutput([row], problem)


summaries = station_hour_asset(
    name="summaries",
    description="Per station-hour: a short summary, keywords and topics of what was said.",
    schema=SUMMARIES_SCHEMA,
    compute=_summary,
    deps=["transcripts"],
    setup=_llm_settings,
    resources=["llm"],
    group_name="speech",
    pool="llm",
    check_description="Fails the hour when a station's LLM summary failed (the row is recorded as failed).",
)


def _mentions(sh: StationHour, _shared: object) -> list[dict]:
    return mentions_for_hour(sh.settings.data_root, sh.station, sh.hour)


mentions = station_hour_asset(
    name="mentions",
    description="Each time a station's watch terms were said in the hour, with the sentence.",
    schema=MENTIONS_SCHEMA,
    compute=_mentions,
    deps=["transcripts"],
    group_name="speech",
)
