"""The hour's audio for one station: its parts in the store, their facts, and their coverage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from pige_pipeline.audio.probe import AudioInfo, AudioProbeError, probe_audio
from pige_pipeline.hours import HOUR, hour_start
from pige_pipeline.store.chunks import HourPart, assemble_hour, hour_chunks
from pige_pipeline.store.gaps import Gap, read_gaps

HOUR_S = HOUR.total_seconds()
# An hour with less than this share recorded is "short" and fails the audio_chunks check.
DEFAULT_MIN_COVERAGE = 0.98


AUDIO_CHUNKS_SCHEMA = pa.schema(
    [
        ("station", pa.string()),
        ("hour", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()),
        ("files", pa.int32()),
        ("path", pa.string()),
        ("duration_s", pa.float64()),
        ("codec", pa.string()),
        ("bitrate", pa.int64()),
        ("sample_rate", pa.int32()),
        ("channels", pa.int32()),
        ("size_bytes", pa.int64()),
        ("coverage", pa.float64()),
        ("gap_s", pa.float64()),
        ("gap_causes", pa.string()),
        ("error", pa.string()),
    ]
)


class NoAudioError(LookupError):
    """A station has no usable audio for an hour; `audio_chunks` and its check already report why."""


@dataclass
class HourAudio:
    """What the store holds for one station-hour."""

    station: str
    hour: datetime
    parts: list[HourPart]
    infos: dict[Path, AudioInfo]
    unreadable: dict[Path, str] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def recorded_s(self) -> float:
        return sum(p.duration_s for p in self.parts)

    @property
    def coverage(self) -> float:
        return min(1.0, self.recorded_s / HOUR_S)


def load_hour_audio(data_root: Path, station: str, hour: datetime) -> HourAudio:
    """Probe every chunk of the station-hour; unreadable files are listed, not raised."""
    hour = hour_start(hour)
    infos: dict[Path, AudioInfo] = {}
    unreadable: dict[Path, str] = {}
    for chunk in hour_chunks(data_root, station, hour):
        try:
            infos[chunk.path] = probe_audio(chunk.path)
        except AudioProbeError as exc:
            unreadable[chunk.path] = str(exc)
    starts = {c.path: c.start for c in hour_chunks(data_root, station, hour)}
    parts = assemble_hour(hour, [(p, starts[p], info.duration_s) for p, info in infos.items()])
    gaps = read_gaps(data_root, station, hour, hour + HOUR)
    return HourAudio(station, hour, parts, infos, unreadable, gaps)


def require_parts(audio: HourAudio) -> list[HourPart]:
    """The hour's usable parts, or `NoAudioError` naming the station and hour."""
    if not audio.parts:
        why = "; ".join(audio.unreadable.values()) or "no chunk in the store"
        raise NoAudioError(
            f"station {audio.station!r}, hour {audio.hour:%Y-%m-%d %H:00Z}: no usable audio ({why})"
        )
    return audio.parts


def decode_part(part: HourPart, sample_rate: int = ANALYSIS_SAMPLE_RATE) -> np.ndarray:
    """The samples of one part, already trimmed to the hour (mono int16)."""
    return decode_mono(part.path, sample_rate, start_s=part.skip_s, duration_s=part.duration_s)


def decode_span(
    parts: list[HourPart], start_s: float, end_s: float, sample_rate: int = ANALYSIS_SAMPLE_RATE
) -> np.ndarray | None:
    """The samples of [start_s, end_s) (seconds into the hour) from the one part holding it all, or None."""
    for part in parts:
        if part.offset_s <= start_s and end_s <= part.offset_s + part.duration_s:
            skip = part.skip_s + start_s - part.offset_s
            return decode_mono(part.path, sample_rate, start_s=skip, duration_s=end_s - start_s)
    return None


def audio_chunk_row(audio: HourAudio, min_coverage: float = DEFAULT_MIN_COVERAGE) -> dict:
    """The `audio_chunks` row of one station-hour, with a status the asset check reads."""
    infos = [audio.infos[p.path] for p in audio.parts]
    first = infos[0] if infos else None
    gap_s = sum(g.duration_s or 0.0 for g in audio.gaps)
    if not audio.parts:
        status = "unreadable" if audio.unreadable else "missing"
    elif audio.unreadable:
        status = "partly_unreadable"
    elif audio.coverage < min_coverage:
        status = "short"
    else:
        status = "ok"
    return {
        "status": status,
        "files": len(audio.parts),
        "path": str(audio.parts[0].path) if audio.parts else None,
        "duration_s": round(audio.recorded_s, 3),
        "codec": first.codec if first else None,
        "bitrate": first.bitrate if first else None,
        "sample_rate": first.sample_rate if first else None,
        "channels": first.channels if first else None,
        "size_bytes": sum(i.size_bytes for i in infos),
        "coverage": round(audio.coverage, 5),
        "gap_s": round(gap_s, 3),
        "gap_causes": ",".join(sorted({g.cause for g in audio.gaps})),
        "error": "; ".join(audio.unreadable.values()) or None,
    }


def decode_hour_pieces(
    parts: list[HourPart], sample_rate: int = ANALYSIS_SAMPLE_RATE, join_tolerance_s: float = 0.5
) -> list[tuple[float, np.ndarray]]:
    """Decode every part once and join parts that follow each other into contiguous pieces.

    Returns (offset_s into the hour, mono int16 samples) per piece. Short recorder segments (or a
    restart) split the hour into files; analyses want the audio as one run wherever it is continuous,
    so that a silence or a play spanning two files is seen whole. Each joined part is placed at its own
    offset (a few ms of encoder padding are cut or filled), so times never drift over many segments.
    Real gaps (more than `join_tolerance_s`) stay gaps: nothing long is filled with zeros, which would
    look like dead air.
    """
    pieces: list[tuple[float, list[np.ndarray], int]] = []  # (offset_s, sample blocks, total samples)
    for part in parts:
        samples = decode_part(part, sample_rate)
        if pieces:
            offset, blocks, length = pieces[-1]
            expected = round((part.offset_s - offset) * sample_rate)
            if abs(expected - length) <= join_tolerance_s * sample_rate:
                if expected < length:  # overlap: cut the end of what we have
                    cut = length - expected
                    while cut > 0:
                        last = blocks[-1]
                        if len(last) <= cut:
                            blocks.pop()
                            cut -= len(last)
                        else:
                            blocks[-1] = last[: len(last) - cut]
                            cut = 0
                elif expected > length:  # encoder padding: a few ms of zeros
                    blocks.append(np.zeros(expected - length, dtype=np.int16))
                blocks.append(samples)
                pieces[-1] = (offset, blocks, expected + len(samples))
                continue
        pieces.append((part.offset_s, [samples], len(samples)))
    return [(offset, np.concatenate(blocks)) for offset, blocks, _ in pieces]
