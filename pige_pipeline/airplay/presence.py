"""Is a known track's audio on air under a voice? Its band spectrum, correlated along the alignment.

Once a play is matched, its track and its alignment (offset and speed) are known, so the seconds
before the matched start can be checked against the track itself, where the fingerprints (chroma,
dominated by the voice) cannot see it. Where the track is on air, even ducked under a voice, the
recording's band levels follow the track's in time (its notes, beats and rests) wherever the voice
does not cover them: the band-centred correlation of the two spectra along the alignment stays well
above zero, and above the correlation at a wrong alignment of the same music (repetitive music
correlates there too). Speech or other music before a track joined mid-way does not follow it.

Both sides use the same representation of the same 11025 Hz samples the fingerprints are computed
from: `BANDS` log-spaced bands (`LOW_HZ`-`HIGH_HZ`) of a `WINDOW`-sample Hann window every `HOP`
samples (~8 frames per second), in whole dB (uint8). The catalogue index keeps the first `HEAD_S` of
each track at speed 1.0 (`band_spectrum`), `fingerprint_rows` the whole piece (`spectrum`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft

RATE = 11025
WINDOW = 512  # 46 ms: shorter than a syllable, so speech's pauses show
HOP = 1378  # 0.125 s
FRAME_S = HOP / RATE
BANDS = 20
LOW_HZ, HIGH_HZ = 200.0, 5000.0
# The reference's first seconds kept in the index: the longest talk-over (30 s) and the clean seconds
# after it that give the gain.
HEAD_S = 40.0
HEAD_FRAMES = int(HEAD_S / FRAME_S)
# Frames per block: 64 x 512 float32 is 128 kB, within malloc's heap (larger blocks are mapped and
# unmapped each time: 2048-frame blocks cost the matching that follows +0.05 s per 16 min in fresh pages).
_CHUNK_FRAMES = 64


def _band_matrix() -> np.ndarray:
    freqs = np.fft.rfftfreq(WINDOW, 1.0 / RATE)
    edges = np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)
    band = np.searchsorted(edges, freqs, side="right") - 1
    m = np.zeros((len(freqs), BANDS), dtype=np.float32)
    inside = (band >= 0) & (band < BANDS)
    m[np.flatnonzero(inside), band[inside]] = 1.0
    return m / np.maximum(m.sum(axis=0, keepdims=True), 1.0)


_BANDS_OF_BINS = _band_matrix()
# Only the bins inside the bands are squared and summed.
_USED = np.flatnonzero(_BANDS_OF_BINS.any(axis=1))
_BIN_LO, _BIN_HI = int(_USED[0]), int(_USED[-1]) + 1
_BANDS_OF_BINS = np.ascontiguousarray(_BANDS_OF_BINS[_BIN_LO:_BIN_HI])
_HANN = np.hanning(WINDOW).astype(np.float32)


def band_spectrum(samples: np.ndarray, sample_rate: int = RATE) -> np.ndarray:
    """(frames, BANDS) uint8: mean power per band in dB (int16 scale), frame k from sample k * HOP."""
    if sample_rate != RATE:
        raise ValueError(f"band_spectrum needs {RATE} Hz audio, got {sample_rate} Hz")
    samples = np.ascontiguousarray(samples, dtype=np.int16)
    n = 0 if len(samples) < WINDOW else (len(samples) - WINDOW) // HOP + 1
    out = np.zeros((n, BANDS), dtype=np.uint8)
    if n == 0:
        return out
    windows = np.lib.stride_tricks.as_strided(
        samples, shape=(n, WINDOW), strides=(samples.strides[0] * HOP, samples.strides[0])
    )
    for a in range(0, n, _CHUNK_FRAMES):
        frames = windows[a : a + _CHUNK_FRAMES].astype(np.float32) * _HANN
        spec = scipy.fft.rfft(frames, axis=1)[:, _BIN_LO:_BIN_HI]
        power = np.square(spec.real) + np.square(spec.imag)
        db = 10 * np.log10(power @ _BANDS_OF_BINS + 1.0)
        out[a : a + _CHUNK_FRAMES] = np.clip(np.rint(db), 0, 255).astype(np.uint8)
    return out


def head_spectrum(samples: np.ndarray, sample_rate: int = RATE) -> np.ndarray:
    """The index's `HEAD_FRAMES` x `BANDS` first frames of a track (zeros past its end)."""
    spec = band_spectrum(samples[: int(HEAD_S * sample_rate) + WINDOW], sample_rate)[:HEAD_FRAMES]
    head = np.zeros((HEAD_FRAMES, BANDS), dtype=np.uint8)
    head[: len(spec)] = spec
    return head


@dataclass
class Spectrum:
    """The band spectrum of one piece: frame k starts at offset_s + k * FRAME_S."""

    offset_s: float
    frames: np.ndarray  # (n, BANDS) uint8


def spectra_from_rows(rows: Sequence[Mapping] | None, shift_s: float = 0.0) -> list[Spectrum]:
    """The band spectra of `fingerprints` rows (speed 1.0; rows written before they existed: none)."""
    out = []
    for row in rows or []:
        if float(row.get("speed", 1.0)) != 1.0 or row.get("spectrum") is None:
            continue
        flat = np.asarray(row["spectrum"], dtype=np.uint8)
        out.append(Spectrum(float(row["part_offset_s"]) + shift_s, flat.reshape(-1, BANDS)))
    return out


# Reference frames quieter than this in every band (dB, int16 scale) are silence: left out.
FLOOR_DB = 45.0
# Fewer reference frames with sound than this over a stretch (2 s) decide nothing.
MIN_FRAMES = 16
# The reference moved this far later gives the correlation of the same music at a wrong alignment.
SHIFTS_S = (1.5, 2.5, 3.5, 4.5, 5.5, 6.5)


def _frames_at(spectra: list[Spectrum], times: np.ndarray) -> np.ndarray | None:
    """The recording frames nearest `times` (all in one piece), or None."""
    for sp in spectra:
        k = np.rint((times - sp.offset_s) / FRAME_S).astype(np.int64)
        if len(k) and k.min() >= 0 and k.max() < len(sp.frames):
            return sp.frames[k].astype(np.float32)
    return None


def _correlation(rec: np.ndarray, ref: np.ndarray) -> float:
    """Correlation of two band spectra over the frames where `ref` has sound, each band centred."""
    sound = ref.max(axis=1) >= FLOOR_DB
    if sound.sum() < MIN_FRAMES:
        return float("nan")
    x = rec[sound] - rec[sound].mean(axis=0)
    r = ref[sound] - ref[sound].mean(axis=0)
    den = float(np.sqrt(np.sum(x * x) * np.sum(r * r)))
    return float(np.sum(x * r) / den) if den > 0 else float("nan")


def track_correlation(
    spectra: list[Spectrum], head: np.ndarray, t0_s: float, t1_s: float, track_t0_s: float, speed: float
) -> tuple[float, float] | None:
    """(correlation at the alignment, highest at `SHIFTS_S`) of the recording over [t0_s, t1_s).

    `track_t0_s`: where the track's first sample lies in the recording, `speed` its playing speed;
    `head` the track's first frames (`head_spectrum`). None where the recording or the reference
    does not cover the stretch with enough sound.
    """
    t = np.arange(t0_s, t1_s, FRAME_S)
    rec = _frames_at(spectra, t) if len(t) else None
    if rec is None:
        return None
    values = []
    for shift in (0.0, *SHIFTS_S):
        j = np.rint(((t - track_t0_s) * speed + shift) / FRAME_S).astype(np.int64)
        if j.min() < 0 or j.max() >= len(head):
            return None
        values.append(_correlation(rec, np.asarray(head[j], dtype=np.float32)))
    if np.isnan(values[0]):
        return None
    return values[0], float(np.nanmax(values[1:])) if not np.all(np.isnan(values[1:])) else 0.0
