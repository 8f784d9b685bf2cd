"""faster-whisper on speech regions only: packed into 30 s windows and decoded in batches.

Speech spans of the hour are cut to at most one Whisper window (at the quietest moment near the limit),
then packed back to back, with a short pause between them, into 30 s windows. The windows go through
`BatchedInferencePipeline` as `clip_timestamps`, so both cores (or the GPU) work on several windows at
once and no window is spent on music or silence. Times come back in packed seconds and are mapped to
seconds into the hour. `condition_on_previous_text` is off in batched decoding, so one hallucination
cannot seed the next window; `guards.drop_reason` marks what is not trusted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from pige_pipeline.audio.decode import SPEECH_SAMPLE_RATE, decode_mono
from pige_pipeline.speech.guards import drop_reason
from pige_pipeline.speech.settings import WhisperSettings
from pige_pipeline.speech.timeline import Span

WINDOW_S = 30.0
# Longest span put in one window; leaves room for Whisper's own padding and rounding.
MAX_SPAN_S = 29.0
# Where a long span may be cut: the quietest 20 ms frame in the last SEARCH_S seconds before the limit.
SEARCH_S = 8.0
PACK_GAP_S = 0.3


class TranscriptionError(RuntimeError):
    """The model could not be loaded or run; the message names the model and what to do."""


@dataclass(frozen=True)
class Placed:
    """A span of the hour placed in the packed audio."""

    packed_s: float
    hour_s: float
    duration_s: float


@dataclass
class Window:
    start_s: float
    end_s: float
    placed: list[Placed] = field(default_factory=list)

    def to_hour(self, packed: float) -> tuple[float, Placed]:
        """Seconds into the hour of a packed time inside this window, and the span it falls in."""
        current = self.placed[0]
        for item in self.placed:
            if item.packed_s <= packed + 1e-6:
                current = item
        inside = min(max(packed - current.packed_s, 0.0), current.duration_s)
        return current.hour_s + inside, current


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    drop_reason: str | None

    @property
    def dropped(self) -> bool:
        return self.drop_reason is not None


@dataclass
class Transcription:
    segments: list[Segment]
    language: str | None
    language_probability: float
    audio_s: float  # seconds of audio actually sent to Whisper
    seconds: float  # wall time of the transcription


def _quietest_cut(samples: np.ndarray, lo: int, hi: int, sample_rate: int) -> int:
    frame = int(0.02 * sample_rate)
    region = samples[lo:hi].astype(np.float32)
    frames = len(region) // frame
    if frames < 2:
        return hi
    energy = (region[: frames * frame].reshape(frames, frame) ** 2).mean(axis=1)
    return lo + int(np.argmin(energy)) * frame + frame // 2


def split_span(
    span: Span,
    piece: tuple[float, np.ndarray],
    sample_rate: int = SPEECH_SAMPLE_RATE,
    max_s: float = MAX_SPAN_S,
) -> list[Span]:
    """Cut a speech span into parts no longer than `max_s`, at the quietest point near each limit."""
    offset, samples = piece
    start, end = span
    parts: list[Span] = []
    while end - start > max_s:
        lo = int((start + max_s - SEARCH_S - offset) * sample_rate)
        hi = int((start + max_s - offset) * sample_rate)
        cut = offset + _quietest_cut(samples, max(lo, 0), min(hi, len(samples)), sample_rate) / sample_rate
        cut = min(max(cut, start + 1.0), start + max_s)
        parts.append((start, cut))
        start = cut
    parts.append((start, end))
    return parts


def _piece_for(
    span: Span, pieces: Sequence[tuple[float, np.ndarray]], sample_rate: int
) -> tuple[float, np.ndarray]:
    middle = (span[0] + span[1]) / 2
    for offset, samples in pieces:
        if offset - 1e-3 <= middle <= offset + len(samples) / sample_rate + 1e-3:
            return offset, samples
    raise ValueError(f"speech span {span[0]:.2f}-{span[1]:.2f} s lies outside the decoded audio")


def pack(
    spans: Sequence[Span], pieces: Sequence[tuple[float, np.ndarray]], sample_rate: int = SPEECH_SAMPLE_RATE
) -> tuple[np.ndarray, list[Window]]:
    """Packed float32 audio of the spans, and the windows (clip timestamps) that cover it."""
    chunks: list[np.ndarray] = []
    windows: list[Window] = []
    cursor = 0  # samples written
    gap = np.zeros(int(PACK_GAP_S * sample_rate), dtype=np.float32)
    for span in sorted(spans):
        piece = _piece_for(span, pieces, sample_rate)
        for start, end in split_span(span, piece, sample_rate):
            offset, samples = piece
            first, last = int(round((start - offset) * sample_rate)), int(round((end - offset) * sample_rate))
            audio = samples[max(first, 0) : min(last, len(samples))].astype(np.float32) / 32768.0
            if not len(audio):
                continue
            length = len(audio) / sample_rate
            window = windows[-1] if windows else None
            if window is None or (cursor / sample_rate + PACK_GAP_S + length) - window.start_s > WINDOW_S:
                window = Window(cursor / sample_rate, cursor / sample_rate)
                windows.append(window)
            elif window.placed:
                chunks.append(gap)
                cursor += len(gap)
            window.placed.append(Placed(cursor / sample_rate, start, length))
            chunks.append(audio)
            cursor += len(audio)
            window.end_s = cursor / sample_rate
    packed = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return packed, windows


_LOADED: dict[WhisperSettings, Transcriber] = {}
_LOADED_LOCK = threading.Lock()


def shared_transcriber(settings: WhisperSettings | None = None) -> Transcriber:
    """The process's Whisper model for `settings`, loaded on first use and kept for every later step.

    A Celery worker or a forkserver child runs many station steps; loading the model once per process
    (not once per step) is what keeps a GPU worker busy with speech instead of with model loading.
    """
    settings = settings or WhisperSettings.from_env()
    with _LOADED_LOCK:
        if settings not in _LOADED:
            _LOADED[settings] = Transcriber(settings)
        return _LOADED[settings]


class Transcriber:
    """A loaded Whisper model; use `shared_transcriber` to load it once per process."""

    def __init__(self, settings: WhisperSettings | None = None) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.settings = settings or WhisperSettings.from_env()
        path = self.settings.model_path()
        try:
            self.model = WhisperModel(
                path,
                device=self.settings.device,
                compute_type=self.settings.compute_type,
                cpu_threads=self.settings.cpu_threads,
                local_files_only=True,
            )
        except Exception as exc:
            raise TranscriptionError(
                f"cannot load Whisper model {path!r} on {self.settings.device}/{self.settings.compute_type}: "
                f"{exc}; check PIGE_WHISPER_MODEL, PIGE_WHISPER_DEVICE and PIGE_WHISPER_COMPUTE_TYPE"
            ) from exc
        self.pipeline = BatchedInferencePipeline(self.model)
        self.model_label = self.settings.label()

    def transcribe_spans(
        self,
        pieces: Sequence[tuple[float, np.ndarray]],
        spans: Sequence[Span],
        language: str | None = None,
        sample_rate: int = SPEECH_SAMPLE_RATE,
    ) -> Transcription:
        """Transcribe `spans` (seconds into the hour) of decoded int16 `pieces` (offset_s, samples)."""
        started = time.monotonic()
        packed, windows = pack(spans, pieces, sample_rate)
        if not windows:
            return Transcription([], language, 0.0, 0.0, 0.0)
        raw, info = self.pipeline.transcribe(
            packed,
            language=language,
            beam_size=self.settings.beam_size,
            batch_size=self.settings.batch_size,
            clip_timestamps=[{"start": w.start_s, "end": w.end_s} for w in windows],
            without_timestamps=False,
            vad_filter=False,
        )
        segments = []
        for seg in raw:
            window = next((w for w in windows if w.start_s - 0.5 <= seg.start <= w.end_s + 0.5), windows[-1])
            start_s, span = window.to_hour(seg.start)
            end_s, end_span = window.to_hour(min(seg.end, window.end_s))
            if end_span is not span:
                # A segment that runs over a packed joint would stretch across whatever was cut out
                # between the two spans (music, say); it ends where its first span ends instead.
                end_s = span.hour_s + span.duration_s
            text = seg.text.strip()
            segments.append(
                Segment(
                    start_s=start_s,
                    end_s=max(end_s, start_s),
                    text=text,
                    avg_logprob=float(seg.avg_logprob),
                    no_speech_prob=float(seg.no_speech_prob),
                    compression_ratio=float(seg.compression_ratio),
                    drop_reason=drop_reason(text, seg.avg_logprob, seg.no_speech_prob, seg.compression_ratio),
                )
            )
        return Transcription(
            segments=sorted(segments, key=lambda s: s.start_s),
            language=info.language,
            language_probability=float(info.language_probability),
            audio_s=sum(p.duration_s for w in windows for p in w.placed),
            seconds=time.monotonic() - started,
        )

    def transcribe_file(self, path: Path | str, language: str | None = None) -> Transcription:
        """Decode a whole file at 16 kHz, find its speech with VAD, and transcribe that."""
        from pige_pipeline.speech.timeline import detect_voice, merge_spans

        samples = decode_mono(path, SPEECH_SAMPLE_RATE)
        pieces = [(0.0, samples)]
        spans = merge_spans(detect_voice(pieces), 1.0)
        return self.transcribe_spans(pieces, spans, language)


def transcript_rows(result: Transcription, hour: datetime, station: str, model: str) -> list[dict]:
    """`transcripts` rows (station and hour columns are filled in by the writer)."""
    return [
        {
            "segment_id": f"{station}/{hour:%Y%m%dT%H}/{index:04d}",
            "start": hour + timedelta(seconds=seg.start_s),
            "end": hour + timedelta(seconds=seg.end_s),
            "start_s": round(seg.start_s, 3),
            "end_s": round(seg.end_s, 3),
            "text": seg.text,
            "language": result.language,
            "avg_logprob": seg.avg_logprob,
            "no_speech_prob": seg.no_speech_prob,
            "compression_ratio": seg.compression_ratio,
            "dropped": seg.dropped,
            "drop_reason": seg.drop_reason,
            "model": model,
        }
        for index, seg in enumerate(result.segments)
    ]
