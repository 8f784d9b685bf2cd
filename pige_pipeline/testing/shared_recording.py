"""Does a piece of other music hold a catalogue recording? A check that does not use Chromaprint.

The held-out music ships pieces that share a recording with another file: two mixes of one piece
(FreedroidRPG's "TechBattle" and "AmbientBattle"), or a track that contains another one
("HellFortressTwo" holds most of "HellFortressEntrance"). When one is in the catalogue and the other
airs as "other music", reporting the catalogue track there is not a false play of the matcher but an
error of the truth. Deciding that with the matcher itself would grade the matcher by its own judgement,
so the evaluation confirms each case with a different measure: the correlation of the two files' fine
log spectrograms (93 ms window every 23 ms, 10.8 Hz bins, 300-5000 Hz) along the alignment, against the
same at wrong alignments (a few seconds off).

Two things make one correlation over the whole span unreliable, and both were seen on the held-out
pairs: Chromaprint's alignment of loop-based music can be a bar or a loop off (it placed
"AmbientBattle" 6.9 s off "TechBattle"), and a mix that drops or adds a stem for a while pulls a
whole-span correlation down. So the alignment is searched within `SEARCH_S` of Chromaprint's, and the
figures are medians over 10-s windows: the correlation, and its margin over the best wrong alignment.
Each pair then gets the same answer whichever of its two files airs (the whole-span measure confirmed
both pairs above in one direction only). Every pair Chromaprint finds in the clean files of the twelve
held-out draws (`benchmarks/airplay_heldout.py --related`): the two FreedroidRPG mixes 0.39-0.40
(0.34-0.37 above wrong alignments), the HellFortress pair 0.37-0.46 (0.33), SuperTux's "cave_old" and
"cave" 0.28 (0.23; never reported on the draw that airs it); pieces that only resemble each other
0.07-0.16 (at most 0.09 above). A recording under another piece 10 dB down (tests/airplay) 0.38 (0.47).
"""

from __future__ import annotations

import numpy as np

from pige_pipeline.airplay.fine_presence import FRAME_S, HOP, RATE, WINDOW, stft

_FREQS = np.fft.rfftfreq(WINDOW, 1.0 / RATE)
_LO, _HI = int(np.searchsorted(_FREQS, 300.0)), int(np.searchsorted(_FREQS, 5000.0))
# A shared recording correlates at least this much along the alignment (median of the windows), and
# this much more than at the best wrong alignment (`WRONG_S`): repetitive music correlates with itself
# a beat or a bar away.
MIN_CORR = 0.25
MIN_MARGIN = 0.10
WRONG_S = (-5.0, -3.0, 3.0, 5.0)
SEARCH_S = 10.0  # around Chromaprint's alignment
WINDOW_S = 10.0
PHASES = 4  # track spectrograms a quarter of a hop apart (5.8 ms)


def log_spectrogram(samples: np.ndarray) -> np.ndarray:
    """(frames, bins) float32 dB of `samples` at `RATE` over 300-5000 Hz (`fine_presence.stft`)."""
    return (20 * np.log10(np.abs(stft(samples, _LO, _HI)) + 1e-3)).astype(np.float32)


def _centred(x: np.ndarray) -> tuple[np.ndarray, float]:
    """`x` less its mean per bin, and its energy."""
    x = x - x.mean(axis=0)
    return x, np.sum(x * x)


def _correlation(a: np.ndarray, a_energy: float, b: np.ndarray) -> float:
    """Correlation of centred `a` (energy `a_energy`) with `b`."""
    b, b_energy = _centred(b)
    den = float(np.sqrt(a_energy * b_energy))
    return float(np.sum(a * b) / den) if den > 0 else float("nan")


class _Windows:
    """`WINDOW_S` windows of a piece's spectrogram over [start_s, end_s), each correlated with the
    track at a given alignment. The piece's side of a window is centred once, not again for each of the
    ~900 alignments the search tries."""

    def __init__(self, piece: np.ndarray, start_s: float, end_s: float, speed: float) -> None:
        t = np.arange(start_s, end_s, FRAME_S)
        self._piece = piece
        self._i = np.rint(t / FRAME_S).astype(np.int64)
        self._along = (t - start_s) * speed
        self._in_piece = self._i < len(piece)
        self._n = int(round(WINDOW_S / FRAME_S))
        self._starts = range(0, len(t) - self._n + 1, self._n)
        self._whole = {
            w: _centred(piece[self._i[w : w + self._n]])
            for w in self._starts
            if self._in_piece[w : w + self._n].all()
        }

    def correlations(self, track: np.ndarray, offset_s: float) -> np.ndarray:
        """Each window's correlation with `track` at `offset_s` (the track's second at `start_s`); NaN
        where less than half the window falls inside both."""
        j = np.rint((self._along + offset_s) / FRAME_S).astype(np.int64)
        ok = self._in_piece & (j >= 0) & (j < len(track))
        values = []
        for w in self._starts:
            sel = slice(w, w + self._n)
            inside = ok[sel]
            if inside.sum() < self._n // 2:
                values.append(np.nan)
            elif w in self._whole and inside.all():
                values.append(_correlation(*self._whole[w], track[j[sel]]))
            else:
                a = self._piece[self._i[sel][inside]]
                values.append(_correlation(*_centred(a), track[j[sel][inside]]))
        return np.array(values, dtype=np.float64)


def recording_correlation(
    piece: np.ndarray, track: np.ndarray, start_s: float, end_s: float, track_offset_s: float, speed: float
) -> tuple[float, float]:
    """(correlation along the best alignment, its margin over wrong alignments) of `piece` over
    [start_s, end_s): medians over `WINDOW_S` windows.

    `track_offset_s`: the track's second heard at `start_s` (Chromaprint's), searched within
    `SEARCH_S`; `speed`: track seconds per piece second. NaN where no window falls inside both.
    """
    windows_of = _Windows(log_spectrogram(piece), start_s, end_s, speed)
    # The correlation peaks within a frame of the exact alignment (the same samples give the same
    # frames), so the track's spectrogram is also taken a quarter, a half and three quarters of a hop in.
    phases = [log_spectrogram(track[k * HOP // PHASES :]) for k in range(PHASES)]

    def windows(offset_s: float) -> np.ndarray:
        k = int(round(offset_s / FRAME_S * PHASES)) % PHASES
        return windows_of.correlations(phases[k], offset_s - k * FRAME_S / PHASES)

    def best_of(offsets: np.ndarray) -> tuple[float, float]:
        values = [windows(o) for o in offsets]
        scores = np.array([np.nanmedian(v) if np.isfinite(v).any() else np.nan for v in values])
        if not np.isfinite(scores).any():
            return np.nan, np.nan
        k = int(np.nanargmax(scores))
        return float(scores[k]), float(offsets[k])

    # Every frame, then every quarter of one around the best.
    _, coarse = best_of(track_offset_s + FRAME_S * np.arange(-SEARCH_S // FRAME_S, SEARCH_S // FRAME_S + 1))
    if np.isnan(coarse):
        return np.nan, np.nan
    best, best_offset = best_of(coarse + FRAME_S / PHASES * np.arange(-PHASES, PHASES + 1))
    wrong = np.array([windows(best_offset + s) for s in WRONG_S])
    with np.errstate(all="ignore"):
        margins = windows(best_offset) - np.nanmax(np.where(np.isnan(wrong), -np.inf, wrong), axis=0)
    margins = margins[np.isfinite(margins)]
    return best, float(np.median(margins)) if len(margins) else np.nan


def shares_recording(corr: float, margin: float) -> bool:
    """Whether a `recording_correlation` result shows the same recording."""
    return bool(corr >= MIN_CORR and margin >= MIN_MARGIN)
