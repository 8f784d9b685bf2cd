"""Does a piece of other music hold a catalogue recording? A check that does not use Chromaprint.

The held-out music ships pieces that share a recording with another file: two mixes of one piece
(FreedroidRPG's "TechBattle" and "AmbientBattle"), or a track that contains another one
("HellFortressTwo" holds most of "HellFortressEntrance"). When one is in the catalogue and the other
airs as "other music", reporting the catalogue track there is not a false play of the matcher but an
error of the truth. Deciding that with the matcher itself would grade the matcher by its own judgement,
so the evaluation confirms each case with a different measure: the correlation of the two files' fine
log spectrograms (93 ms window every 23 ms, 10.8 Hz bins, 300-5000 Hz) along the alignment, against the
same at wrong alignments. Measured on held-out draws 5 and 7 (seeds 20 and 22), every pair that
Chromaprint finds in the clean files: the two FreedroidRPG mixes 0.67 (0.35 at a wrong alignment),
"HellFortressTwo" and "HellFortressEntrance" 0.42 (0.10); pieces that only resemble each other
(Chromaprint BER 0.22-0.26) 0.06 (0.07), -0.12 (0.06) and 0.34 (0.37: stationary music that correlates
as well a few seconds off). A recording under another stem 10 dB down (tests/airplay) 0.36 (-0.04).
"""

from __future__ import annotations

import numpy as np

from pige_pipeline.airplay.fine_presence import FRAME_S, RATE, WINDOW, stft

_FREQS = np.fft.rfftfreq(WINDOW, 1.0 / RATE)
_LO, _HI = int(np.searchsorted(_FREQS, 300.0)), int(np.searchsorted(_FREQS, 5000.0))
# A shared recording correlates at least this much along the alignment, and this much more than at
# any wrong alignment (`WRONG_S`): repetitive music correlates with itself a beat or a bar away.
MIN_CORR = 0.25
MIN_MARGIN = 0.15
WRONG_S = (-5.0, -3.0, 3.0, 5.0)


def log_spectrogram(samples: np.ndarray) -> np.ndarray:
    """(frames, bins) float32 dB of `samples` at `RATE` over 300-5000 Hz (`fine_presence.stft`)."""
    return (20 * np.log10(np.abs(stft(samples, _LO, _HI)) + 1e-3)).astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    den = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / den) if den > 0 else float("nan")


def recording_correlation(
    piece: np.ndarray, track: np.ndarray, start_s: float, end_s: float, track_offset_s: float, speed: float
) -> tuple[float, float]:
    """(correlation along the alignment, highest at a wrong one) of `piece` over [start_s, end_s).

    `track_offset_s`: the track's second heard at `start_s`; `speed`: track seconds per piece second.
    NaN where fewer than 10 s of the span fall inside both.
    """
    spec_piece, spec_track = log_spectrogram(piece), log_spectrogram(track)
    t = np.arange(start_s, end_s, FRAME_S)
    i = np.rint(t / FRAME_S).astype(np.int64)
    values = []
    for shift in (0.0, *WRONG_S):
        j = np.rint(((t - start_s) * speed + track_offset_s + shift) / FRAME_S).astype(np.int64)
        ok = (i < len(spec_piece)) & (j >= 0) & (j < len(spec_track))
        enough = ok.sum() * FRAME_S >= 10
        values.append(_correlation(spec_piece[i[ok]], spec_track[j[ok]]) if enough else float("nan"))
    wrong = [v for v in values[1:] if not np.isnan(v)]
    return values[0], max(wrong) if wrong else float("nan")


def shares_recording(corr: float, wrong: float) -> bool:
    """Whether a `recording_correlation` result shows the same recording."""
    return bool(corr >= MIN_CORR and (np.isnan(wrong) or corr - wrong >= MIN_MARGIN))
