"""Centred sliding-window mean, minimum and maximum along the first axis, in numpy alone.

The windows are scipy.ndimage's `*_filter1d` windows (size `w` covers `i - w//2 .. i + (w-1) - w//2`),
with the edges padded by the nearest value, or by a constant. They are written here because importing
scipy costs `pige silence detect` 0.4 s of start-up, a sixth of decoding the hour it analyses
(docs/benchmarks.md, `## Dead air`); tests/silence/test_sliding.py holds them to scipy's results.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _padded(x: np.ndarray, size: int, cval: float | None) -> np.ndarray:
    before, after = size // 2, size - 1 - size // 2
    widths = [(before, after)] + [(0, 0)] * (x.ndim - 1)
    if cval is None:
        return np.pad(x, widths, mode="edge")
    return np.pad(x, widths, mode="constant", constant_values=cval)


def moving_mean(x: np.ndarray, size: int) -> np.ndarray:
    """Mean over each centred window, edges repeating the nearest value (float64)."""
    padded = _padded(np.asarray(x, dtype=np.float64), size, None)
    sums = np.cumsum(padded, axis=0)
    sums = np.concatenate([np.zeros((1, *sums.shape[1:])), sums], axis=0)
    return (sums[size:] - sums[:-size]) / size


def moving_min(x: np.ndarray, size: int) -> np.ndarray:
    """Minimum over each centred window, edges repeating the nearest value."""
    return sliding_window_view(_padded(x, size, None), size, axis=0).min(axis=-1)


def moving_max(x: np.ndarray, size: int, cval: float | None = None) -> np.ndarray:
    """Maximum over each centred window; edges repeat the nearest value, or are `cval` when given."""
    return sliding_window_view(_padded(x, size, cval), size, axis=0).max(axis=-1)
