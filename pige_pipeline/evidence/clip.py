"""Cut the audio of a play or a dead-air alert, with context, from the chunk files it was heard in.

A stream copy (no re-encoding: the clip is the broadcast's own bytes, frame-accurate to ~26 ms for
MP3) when every file has the same codec and the output's extension is a container of that codec;
otherwise ffmpeg re-encodes for the extension asked for. Several files are joined with ffmpeg's concat
demuxer (in and out points per file), so a line across an hour boundary is one clip.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from pige_pipeline.audio.probe import AudioInfo, AudioProbeError, probe_audio
from pige_pipeline.evidence.locate import locate
from pige_pipeline.evidence.model import ChunkSpan, Evidence, EvidenceError, EvidenceUnavailable
from pige_pipeline.evidence.sources import days_around, spans_for, station_chunks

DEFAULT_CONTEXT_S = 5.0
# Extensions that hold the same coded stream: a clip with one of these can be a stream copy.
_CONTAINERS = ({"mp3"}, {"aac"}, {"m4a", "mp4"}, {"ogg", "oga", "opus"}, {"flac"}, {"wav"}, {"mp2"}, {"ts"})
_WHAT_TO_DO = (
    "the audio was deleted by retention or moved: restore the file to that path to cut the clip "
    "(`pige hold add` keeps a station's audio from retention while a line is disputed)"
)


@dataclass(frozen=True)
class Clip:
    """A clip written to `path`: its UTC span (context included) and how it was made."""

    path: Path
    start: datetime  # UTC time of the clip's first sample
    end: datetime
    line_start_s: float  # where the play or alert starts in the clip
    line_end_s: float
    stream_copy: bool
    spans: list[ChunkSpan] = field(default_factory=list)


def _same_container(source: Path, out: Path) -> bool:
    a, b = source.suffix.lower().lstrip("."), out.suffix.lower().lstrip(".")
    return any(a in group and b in group for group in _CONTAINERS)


@lru_cache(maxsize=512)
def _probe_file(path: Path, size: int, mtime_ns: int) -> AudioInfo:
    """ffprobe once per file version: a report page cuts many clips from the same few chunks."""
    return probe_audio(path)


def _probed(path: Path) -> AudioInfo:
    stat = path.stat()
    return _probe_file(path, stat.st_size, stat.st_mtime_ns)


def _probe(path: Path, data_root: Path, required: bool, evidence: Evidence) -> AudioInfo | None:
    try:
        return _probed(data_root / path)
    except (AudioProbeError, OSError) as exc:
        if required:
            raise EvidenceUnavailable(
                f"{evidence.kind.replace('_', ' ')} {evidence.item_id}: chunk {data_root / path} cannot be "
                f"read ({exc}): check the file, or restore it from a backup"
            ) from None
        return None


def _plan(data_root: Path, evidence: Evidence, context_s: float) -> tuple[list[ChunkSpan], datetime]:
    """The spans to join (context included, clamped to what the files hold) and the clip's UTC start."""
    recorded = {span.path for span in evidence.spans}
    for path in recorded:
        if not (data_root / path).is_file():
            raise EvidenceUnavailable(
                f"{evidence.kind.replace('_', ' ')} {evidence.item_id} of {evidence.station} "
                f"({evidence.start:%Y-%m-%d %H:%M:%S}Z): chunk {data_root / path} is missing: {_WHAT_TO_DO}"
            )
    begin = evidence.start - timedelta(seconds=context_s)
    finish = evidence.end + timedelta(seconds=context_s)
    chunks = station_chunks(data_root, evidence.station, days_around(begin, finish))
    starts = {path: began for began, path in chunks}
    planned: list[ChunkSpan] = []
    for span in spans_for(chunks, begin, finish):
        info = _probe(span.path, data_root, span.path in recorded, evidence)
        if info is None:  # an unreadable neighbour only shortens the context
            if planned:
                break
            continue
        end_s = min(span.end_s if span.end_s is not None else info.duration_s, info.duration_s)
        if (
            span.path in recorded
            and span.path == evidence.spans[0].path
            and info.duration_s < (evidence.spans[0].start_s)
        ):
            raise EvidenceUnavailable(
                f"{evidence.kind.replace('_', ' ')} {evidence.item_id}: chunk {data_root / span.path} holds "
                f"{info.duration_s:.1f} s but the line starts {evidence.spans[0].start_s:.1f} s into it: the "
                "recording stopped before (see the coverage report for the gap)"
            )
        if end_s - span.start_s <= 0.01:
            continue
        planned.append(ChunkSpan(path=span.path, start_s=span.start_s, end_s=round(end_s, 3)))
    if not planned:
        raise EvidenceUnavailable(
            f"{evidence.kind.replace('_', ' ')} {evidence.item_id}: no readable chunk holds "
            f"{evidence.start:%Y-%m-%d %H:%M:%S}Z: {_WHAT_TO_DO}"
        )
    first = planned[0]
    return planned, starts[first.path] + timedelta(seconds=first.start_s)


def _ffmpeg(spans: list[ChunkSpan], data_root: Path, out: Path, copy: bool, workdir: Path) -> None:
    codec = ["-c", "copy"] if copy else ["-vn"]
    if len(spans) == 1:
        span = spans[0]
        duration = ["-t", f"{span.end_s - span.start_s:.3f}"] if span.end_s is not None else []
        args = ["-ss", f"{span.start_s:.3f}", "-i", str(data_root / span.path), *duration]
    else:
        listing = workdir / "spans.txt"
        lines = []
        for span in spans:
            quoted = str((data_root / span.path).resolve()).replace("'", "'\\''")
            lines.append(f"file '{quoted}'")
            lines.append(f"inpoint {span.start_s:.3f}")
            if span.end_s is not None:
                lines.append(f"outpoint {span.end_s:.3f}")
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args, "-map", "0:a", *codec, str(out)],
        check=True,
        capture_output=True,
        text=True,
    )


def cut_evidence(
    data_root: Path, evidence: Evidence, out: Path, context_s: float = DEFAULT_CONTEXT_S
) -> Clip:
    """Write `evidence`'s audio with `context_s` seconds either side (less where the store ends) to `out`."""
    if context_s < 0:
        raise EvidenceError(f"context of {context_s} s: give zero or more seconds")
    spans, clip_start = _plan(data_root, evidence, context_s)
    codecs = {_probed(data_root / s.path).codec for s in spans}
    copy = len(codecs) == 1 and all(_same_container(s.path, out) for s in spans)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".evidence-", dir=out.parent) as work:
        tmp = Path(work) / f"clip{out.suffix}"
        try:
            _ffmpeg(spans, data_root, tmp, copy, Path(work))
        except subprocess.CalledProcessError as exc:
            if not copy:
                raise EvidenceError(
                    f"ffmpeg could not write {out} ({exc.stderr.strip()[-300:]}): use an extension such "
                    "as .mp3, .ogg or .wav"
                ) from None
            copy = False  # a container that refuses the stream as it is: re-encode instead
            _ffmpeg(spans, data_root, tmp, copy, Path(work))
        os.replace(tmp, out)
    length = sum((s.end_s or 0.0) - s.start_s for s in spans)
    line_start = (evidence.start - clip_start).total_seconds()
    return Clip(
        path=out,
        start=clip_start,
        end=clip_start + timedelta(seconds=length),
        line_start_s=round(line_start, 3),
        line_end_s=round(line_start + evidence.duration_s, 3),
        stream_copy=copy,
        spans=spans,
    )


def cut_clip(data_root: Path, item_id: str, out: Path, context_s: float = DEFAULT_CONTEXT_S) -> Path:
    """Write the clip of a play_id or an alert_id, with `context_s` seconds of context, to `out`."""
    cut_evidence(data_root, locate(data_root, item_id), out, context_s)
    return out
