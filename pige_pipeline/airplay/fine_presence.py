"""Is a track's audio under a voice? Its spectral peaks, looked for in the recording's fine spectrum.

A presenter talking over an intro with the music ducked 6-10 dB dominates the chroma (the fingerprints)
and the coarse band levels (`presence`). The track is still there between the voice's harmonics: with
10.8-Hz bins, a tonal note of the track stands out of the recording's spectrum at its own frequency
(a local prominence), wherever no harmonic of the voice covers it. Once a play is matched, its track and
alignment are known, so the track's strongest peaks over the stretch can be looked for one by one:
the mean prominence of the recording at those bins, against the same at the peaks moved in frequency
or in time (the same music, not at its own notes or not at its own time). Speech or other music before
a track joined mid-way has no prominence at the track's notes more than elsewhere.

Needs the audio itself (the stored fingerprints and band levels are too coarse), so it is computed only
for the few stretches that the cheaper tests in `talkover` leave undecided: the recording's stretch is
decoded then; the track's peaks over its first seconds are kept in the catalogue index (`head_peaks`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, AudioDecodeError, decode_mono

log = logging.getLogger(__name__)

RATE = ANALYSIS_SAMPLE_RATE  # 11025 Hz: the index's peaks come from the samples it is printed from
WINDOW = 1024  # 93 ms: 10.8-Hz bins, fine enough to see between a voice's harmonics
HOP = 256
FRAME_S = HOP / RATE
_FREQS = np.fft.rfftfreq(WINDOW, 1.0 / RATE)
LOW_HZ, HIGH_HZ = 300.0, 4000.0
# Bins kept on either side of the band, so that prominences and shifts stay inside the array.
_PAD = 20
_LO = int(np.searchsorted(_FREQS, LOW_HZ)) - _PAD
_HI = int(np.searchsorted(_FREQS, HIGH_HZ)) + _PAD
_HANN = np.hanning(WINDOW).astype(np.float32)
# The track's peaks per frame: local maxima over +-PEAK_SPAN bins, the PEAKS_PER_FRAME strongest, within
# PEAK_RANGE_DB of the frame's strongest and above PEAK_FLOOR_DB (a silent intro has none).
PEAKS_PER_FRAME = 8
PEAK_SPAN = 3
PEAK_RANGE_DB = 40.0
PEAK_FLOOR_DB = 20.0
# A bin's prominence: its level above the mean of the bins PROMINENCE_SPAN away on either side.
PROMINENCE_SPAN = 4
# Wrong placements of the track's peaks: moved in frequency (bins) and in time (seconds).
BIN_SHIFTS = (-13, -9, -5, 5, 9, 13)
TIME_SHIFTS_S = (-3.0, -1.5, 1.5, 3.0)
# Each placement is searched this far either side of the fingerprints' alignment.
SEARCH_S = 0.25


@dataclass(frozen=True)
class Search:
    """Where the track's peaks are placed: each placement the best of +-`half_width_s` (every
    `step_frames` frames) around the alignment; wrong placements moved by `BIN_SHIFTS` and, in time,
    by `time_shifts_s`. Every `frame_step`-th frame of the recording is looked at."""

    half_width_s: float = SEARCH_S
    step_frames: int = 1
    time_shifts_s: tuple[float, ...] = TIME_SHIFTS_S
    frame_step: int = 1


# The track's notes are heard when the prominence at its peaks along the alignment beats every wrong
# placement by this much (dB). Chosen on the talk-over tuning sets (docs/benchmarks.md): stretches
# before a mid-track join score at most 0.59, intros under a voice 0.82-4.71.
MIN_NOTES_DB = 0.8


# The track's first seconds whose peaks are kept: the longest talk-over stretch (`talkover`'s
# MAX_TALK_OVER_S, 30 s) at the fastest speed, plus the search.
HEAD_S = 32.5


class StretchAudio(Protocol):
    """The audio that `track_heard` needs: the recording decoded on demand, the track's peaks."""

    def recording(self, start_s: float, end_s: float) -> np.ndarray | None:
        """The recording over [start_s, end_s) (the matcher's time base, 11025 Hz mono), None where not
        all recorded."""

    def track_peaks(self, track: int) -> np.ndarray | None:
        """`head_peaks` of catalogue track `track` (index order), None where it cannot be read."""

    def track_audio(self, track: int, start_s: float, duration_s: float) -> np.ndarray | None:
        """Catalogue track `track` from its second `start_s` (11025 Hz mono), None where unreadable."""


class NotesIndex(Protocol):
    """What `CatalogueAudio` reads from the catalogue index (`index.CatalogueIndex`)."""

    tracks: pd.DataFrame

    def head_peaks_of(self, track: int) -> np.ndarray | None:
        """The stored `head_peaks` of a track, None where the index was saved without them."""


class CatalogueAudio:
    """The catalogue side of `StretchAudio`: tracks' peaks over their first `HEAD_S` from the index (or,
    where an index saved before it kept them has none, decoded from the file when first asked for, then
    kept), and any stretch of a track decoded from its file."""

    def __init__(self, index: NotesIndex) -> None:
        self._index = index
        self._decoded: dict[int, np.ndarray | None] = {}

    def track_peaks(self, track: int) -> np.ndarray | None:
        stored = self._index.head_peaks_of(track)
        if stored is not None:
            return stored
        if track not in self._decoded:
            file = self._index.tracks["file"].iloc[track]
            try:
                peaks = head_peaks(decode_mono(file, RATE, duration_s=HEAD_S))
            except (AudioDecodeError, OSError) as exc:
                # Only the refinement of this play's start is lost; the play itself stands.
                log.warning("catalogue file %s unreadable (%s): intros not checked", file, exc)
                peaks = None
            self._decoded[track] = peaks
        return self._decoded[track]

    def track_audio(self, track: int, start_s: float, duration_s: float) -> np.ndarray | None:
        file = self._index.tracks["file"].iloc[track]
        try:
            return decode_mono(file, RATE, start_s=start_s, duration_s=duration_s)
        except (AudioDecodeError, OSError) as exc:
            log.warning("catalogue file %s unreadable (%s): its middling plays not checked", file, exc)
            return None


class SamplesAudio(CatalogueAudio):
    """`StretchAudio` over pieces already in memory: (offset_s, samples at RATE) (CLI, benchmarks)."""

    def __init__(self, pieces: Sequence[tuple[float, np.ndarray]], index: NotesIndex) -> None:
        super().__init__(index)
        self._pieces = list(pieces)

    def recording(self, start_s: float, end_s: float) -> np.ndarray | None:
        for offset, samples in self._pieces:
            a, b = round((start_s - offset) * RATE), round((end_s - offset) * RATE)
            if 0 <= a < b <= len(samples):
                return samples[a:b]
        return None


def stft(samples: np.ndarray, lo_bin: int, hi_bin: int) -> np.ndarray:
    """(frames, hi_bin - lo_bin) complex: the `WINDOW`-sample Hann spectra every `HOP` samples of
    `samples` at `RATE`, bins lo_bin..hi_bin-1 (frame k from sample k * HOP)."""
    x = np.ascontiguousarray(samples, dtype=np.float32)
    n = 0 if len(x) < WINDOW else (len(x) - WINDOW) // HOP + 1
    if n == 0:
        return np.zeros((0, hi_bin - lo_bin), dtype=np.complex64)
    frames = np.lib.stride_tricks.as_strided(x, (n, WINDOW), (x.strides[0] * HOP, x.strides[0]))
    return np.fft.rfft(frames * _HANN, axis=1)[:, lo_bin:hi_bin]


def fine_spectrum(samples: np.ndarray) -> np.ndarray:
    """(frames, bins) float32 dB over LOW_HZ-HIGH_HZ (plus `_PAD` bins each side), frame k at k * HOP."""
    spec = stft(samples, _LO, _HI)
    return (10 * np.log10(np.square(spec.real) + np.square(spec.imag) + 1.0)).astype(np.float32)


def _peak_bins(spec: np.ndarray) -> np.ndarray:
    """(frames, PEAKS_PER_FRAME) int: the bins of each frame's strongest local maxima in the band, -1
    where a frame has fewer."""
    local = np.ones(spec.shape, dtype=bool)
    for d in range(1, PEAK_SPAN + 1):
        local[:, d:] &= spec[:, d:] > spec[:, :-d]
        local[:, :-d] &= spec[:, :-d] >= spec[:, d:]
    local[:, :_PAD] = local[:, -_PAD:] = False
    ranked = np.where(local, spec, -np.inf)
    top = np.argpartition(-ranked, PEAKS_PER_FRAME - 1, axis=1)[:, :PEAKS_PER_FRAME]
    level = np.take_along_axis(ranked, top, axis=1)
    keep = (level > spec.max(axis=1, keepdims=True) - PEAK_RANGE_DB) & (level > PEAK_FLOOR_DB)
    return np.where(keep, top, -1)


def head_peaks(samples: np.ndarray) -> np.ndarray:
    """(frames, PEAKS_PER_FRAME) int16: a track's strongest spectral peaks per frame (bins of
    `fine_spectrum`, -1 where a frame has fewer) over its first `HEAD_S` (`samples` at RATE).

    Kept in the catalogue index (about 22 kB a track), so that a notes test decodes only the recording.
    """
    return _peak_bins(fine_spectrum(samples[: int(HEAD_S * RATE)])).astype(np.int16)


def _prominence(spec: np.ndarray) -> np.ndarray:
    k = PROMINENCE_SPAN
    out = np.zeros_like(spec)
    out[:, k:-k] = spec[:, k:-k] - 0.5 * (spec[:, : -2 * k] + spec[:, 2 * k :])
    return out


def track_heard(
    recording: np.ndarray,
    peaks: np.ndarray,
    spans_s: Sequence[float],
    track_offset_s: float,
    speed: float,
    search: Search | None = None,
) -> list[tuple[float, float] | None]:
    """Per span: (mean prominence at the track's peaks, highest at a wrong placement) over the first
    `span_s` of a recording stretch.

    `recording`: the stretch's samples; `peaks`: the track's `head_peaks`; `track_offset_s`: the track's
    second heard at the stretch's first sample; `speed`: track seconds per recording second. The
    alignment inferred from the fingerprints is good to about one fingerprint item (0.12 s), and
    staccato music decorrelates within that, so each placement takes the best of +-`SEARCH_S` (`search`
    widens it, and says which wrong placements are compared, for `notes_check`). A speed
    change may or may not move the pitch (resampled, or time-compressed): both are tried. None where
    the track has no peaks over the span.
    """
    prom = prominences(recording[: int(max(spans_s, default=0.0) * RATE)])
    return [
        peaks_heard(prom[: frames_in(span_s)], peaks, track_offset_s, speed, search) for span_s in spans_s
    ]


def prominences(recording: np.ndarray) -> np.ndarray:
    """(frames, bins) float32: each bin's prominence in the recording's `fine_spectrum`."""
    return _prominence(fine_spectrum(recording))


def peaks_heard(
    prom: np.ndarray, peaks: np.ndarray, track_offset_s: float, speed: float, search: Search | None = None
) -> tuple[float, float] | None:
    """`track_heard` over `prominences` already computed (several searches over one stretch)."""
    if len(prom) == 0 or len(peaks) == 0:
        return None
    return _placements(prom, peaks, track_offset_s, speed, search or Search())


def frames_in(span_s: float) -> int:
    """Frames of `fine_spectrum` over `span_s` seconds."""
    samples = int(span_s * RATE)
    return 0 if samples < WINDOW else (samples - WINDOW) // HOP + 1


def _placements(
    prom: np.ndarray, peaks: np.ndarray, track_offset_s: float, speed: float, search_at: Search
) -> tuple[float, float] | None:
    """(best mean prominence at the aligned peaks, best at a wrong placement), each over the search."""
    prom = prom[:: search_at.frame_step]
    n, n_bins = prom.shape
    if n == 0:
        return None
    t = np.arange(n) * (FRAME_S * search_at.frame_step)
    # The track's peaks at each pitch, with how many each frame has and the band they reach: the same
    # for every time shift.
    pitched = []
    for pitch in (1.0,) if speed == 1.0 else (1.0, speed):
        moved = _moved_peaks(peaks, pitch)
        pitched.append((moved, (moved != _ABSENT).sum(axis=1), _band_reach(moved)))
    search = np.arange(
        -search_at.half_width_s, search_at.half_width_s + 1e-9, search_at.step_frames * FRAME_S
    )
    table = _Prominences(prom)
    align, wrong = -np.inf, -np.inf
    for time_shift in (0.0, *search_at.time_shifts_s):
        j = np.rint((track_offset_s + t[None, :] * speed + time_shift + search[:, None]) / FRAME_S).astype(
            np.int64
        )
        ok = (j >= 0) & (j < len(peaks))  # (placements, frames)
        usable = ok.sum(axis=1) >= 0.8 * n  # n >= 1: at least one frame inside
        if not usable.any():
            continue
        frames = np.where(ok, j, len(peaks))  # the row past the track's last: no peaks
        for moved, per_frame, (lo, hi) in pitched:
            cols = moved[frames]  # (placements, frames, PEAKS_PER_FRAME)
            at = cols + table.row_starts
            counts = per_frame[frames].sum(axis=1)
            for bin_shift in (0, *BIN_SHIFTS) if time_shift == 0.0 else (0,):
                sums = table.flat[at + bin_shift].reshape(len(at), -1).sum(axis=1)
                if lo + bin_shift < 0 or hi + bin_shift >= n_bins:
                    # Some peaks moved out of the band: they count for nothing (rare: the band has
                    # margins, `_PAD`).
                    inside = (cols != _ABSENT) & (cols + bin_shift >= 0) & (cols + bin_shift < n_bins)
                    shifted_counts = inside.reshape(len(at), -1).sum(axis=1)
                else:
                    shifted_counts = counts
                means = sums / np.maximum(shifted_counts, 1)
                means = means[usable & (shifted_counts > 0)]
                if not len(means):
                    continue
                if time_shift == 0.0 and bin_shift == 0:
                    align = max(align, float(means.max()))
                else:
                    wrong = max(wrong, float(means.max()))
    if not np.isfinite(align):
        return None
    return align, wrong if np.isfinite(wrong) else float("nan")


# Peaks are placed by reading a flat table of the prominences with zero margins (`_Prominences`): a
# missing peak reads column `_ABSENT` of its row, in the left margin, wherever a bin shift moves it.
_SHIFT = max(abs(s) for s in BIN_SHIFTS)
_MARGIN = 3 * _SHIFT + 1
_ABSENT = -2 * _SHIFT - 1
_N_BINS = _HI - _LO  # of every `fine_spectrum`


class _Prominences:
    """The recording's prominences as one flat float32 array, each row within `_MARGIN` zeros either
    side: a peak in bin b of frame t, shifted by s bins, is `flat[row_starts[t] + b + s]`, and reads
    zero wherever b + s is outside the band."""

    def __init__(self, prom: np.ndarray) -> None:
        n, n_bins = prom.shape
        width = n_bins + 2 * _MARGIN
        table = np.zeros((n, width), dtype=np.float32)
        table[:, _MARGIN : _MARGIN + n_bins] = prom
        self.flat = table.ravel()
        self.row_starts = (np.arange(n, dtype=np.int32) * width + _MARGIN)[None, :, None]


def _moved_peaks(peaks: np.ndarray, pitch: float) -> np.ndarray:
    """(frames + 1, PEAKS_PER_FRAME) int32: the track's peak bins as heard at `pitch` (bin b of the track
    sounds at bin b * pitch of the recording, counted from 0 Hz), `_ABSENT` where a frame has no peak,
    and a last row of `_ABSENT` for placements beyond the track."""
    bins = peaks.astype(np.int32)
    moved = bins if pitch == 1.0 else np.rint((bins + _LO) * pitch).astype(np.int32) - _LO
    # Kept inside the margins so that no shifted read leaves its row (never reached: peaks lie
    # `_PAD` bins inside the band, and a speed moves them a few bins).
    moved = np.where(bins >= 0, np.clip(moved, _ABSENT + _SHIFT + 1, _N_BINS + _MARGIN - _SHIFT - 1), _ABSENT)
    return np.vstack([moved, np.full((1, moved.shape[1]), _ABSENT, dtype=np.int32)])


def _band_reach(moved: np.ndarray) -> tuple[int, int]:
    """The lowest and highest bin that a present peak of `moved` falls on (0, 0 with none)."""
    present = moved[moved != _ABSENT]
    return (int(present.min()), int(present.max())) if len(present) else (0, 0)
