"""ffprobe wrapper: what an audio file is, or a clear reason why it is not usable."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

FFPROBE_TIMEOUT_S = 60


class AudioProbeError(ValueError):
    """The file is not readable audio. The message names the file and says what to do."""


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    duration_s: float
    codec: str
    bitrate: int | None
    sample_rate: int
    channels: int
    size_bytes: int
    format_name: str


def probe_audio(path: Path | str) -> AudioInfo:
    """Describe an audio file with ffprobe; raise `AudioProbeError` for anything that is not audio."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioProbeError(f"{path}: cannot be read ({exc.strerror})") from None
    if size == 0:
        raise AudioProbeError(f"{path}: empty file (0 bytes); the recording or copy did not complete")
    cmd = [
        "ffprobe", "-v", "error", "-hide_banner", "-print_format", "json",
        "-show_format", "-show_streams", "-select_streams", "a", "--", str(path),
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=FFPROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise AudioProbeError(f"{path}: ffprobe did not finish in {FFPROBE_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise AudioProbeError(f"{path}: not readable audio ({reason}); check or re-export the file")
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams") or []
    if not streams:
        raise AudioProbeError(f"{path}: contains no audio stream; is it the right file?")
    stream = streams[0]
    fmt = data.get("format") or {}
    duration = _float(stream.get("duration")) or _float(fmt.get("duration"))
    if not duration or duration <= 0:
        raise AudioProbeError(f"{path}: audio has no measurable duration; the file is probably truncated")
    bitrate = _int(stream.get("bit_rate")) or _int(fmt.get("bit_rate"))
    duration = _truncated_duration(stream, size, duration)
    return AudioInfo(
        path=path,
        duration_s=duration,
        codec=str(stream.get("codec_name", "unknown")),
        bitrate=bitrate,
        sample_rate=_int(stream.get("sample_rate")) or 0,
        channels=_int(stream.get("channels")) or 0,
        size_bytes=size,
        format_name=str(fmt.get("format_name", "unknown")),
    )


def _truncated_duration(stream: dict, size: int, duration: float) -> float:
    """The audio an MPEG-audio file really holds when its header promises more.

    A copy cut short keeps its Xing/Info header, whose frame count ffprobe trusts: a file truncated
    to 40 % still reports its full duration, and coverage would count audio that is not there. MPEG
    audio frames have a fixed size for a bitrate, so size / bitrate bounds the real duration (tags
    only make the file bigger, never smaller). Other codecs are left alone: a Vorbis or AAC nominal
    bitrate says nothing about the real size of quiet passages.
    """
    bitrate = _int(stream.get("bit_rate"))
    if stream.get("codec_name") not in ("mp3", "mp2") or not bitrate:
        return duration
    held = size * 8 / bitrate
    return held if held < duration * 0.97 else duration


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
