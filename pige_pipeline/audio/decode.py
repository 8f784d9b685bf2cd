"""Decode audio to mono PCM with one ffmpeg pass, so that several analyses share one decode."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

# Chromaprint's native rate. Level measurement and fingerprinting both run on this one decode.
ANALYSIS_SAMPLE_RATE = 11025
# faster-whisper and Silero VAD expect 16 kHz.
SPEECH_SAMPLE_RATE = 16000


class AudioDecodeError(ValueError):
    """ffmpeg could not decode the file. The message names the file."""


def decode_mono(
    path: Path | str,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
    start_s: float = 0.0,
    duration_s: float | None = None,
) -> np.ndarray:
    """Decode `path` to mono signed 16-bit samples at `sample_rate` (an int16 array)."""
    path = Path(path)
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
    if start_s > 0:
        cmd += ["-ss", f"{start_s:.3f}"]
    cmd += ["-i", str(path)]
    if duration_s is not None:
        cmd += ["-t", f"{duration_s:.3f}"]
    # -flush_packets 0: otherwise ffmpeg writes every decoded frame (~600 bytes at 11025 Hz) to the pipe
    # on its own, and the syscalls cost half as much CPU as the decode (docs/benchmarks.md, Dead air).
    # Downmixed before it is resampled, with a 16-tap filter instead of swresample's 32: the resampling
    # cost a fifth of the decode; the fingerprints come out bit-identical (0.0000-0.0001 of the bits
    # differ over 16-minute programmes) and the dead-air decisions unchanged (docs/benchmarks.md).
    cmd += ["-vn", "-af", f"aformat=channel_layouts=mono,aresample={sample_rate}:filter_size=16"]
    cmd += ["-ac", "1", "-ar", str(sample_rate), "-f", "s16le", "-acodec", "pcm_s16le"]
    cmd += ["-flush_packets", "0", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        reason = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no audio decoded"])[-1]
        raise AudioDecodeError(f"{path}: ffmpeg could not decode it ({reason})")
    usable = len(proc.stdout) - len(proc.stdout) % 2
    return np.frombuffer(proc.stdout[:usable], dtype=np.int16)
