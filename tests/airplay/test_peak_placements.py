"""The notes tests' placement scores (`fine_presence`) equal their definition, read plainly.

`_placements` reads the recording's prominences through a flat, zero-margined table for speed; this
checks it against a direct loop over placements, frames and peaks, on cases that reach every branch:
peaks missing in some frames, pitch moves and bin shifts past the band's edges, placements running off
the track's end, and searches with and without time shifts.
"""

from __future__ import annotations

import numpy as np
import pytest

from pige_pipeline.airplay.fine_presence import (
    _HI,
    _LO,
    BIN_SHIFTS,
    FRAME_S,
    PEAKS_PER_FRAME,
    Search,
    _placements,
)

N_BINS = _HI - _LO


def _by_definition(
    prom: np.ndarray, peaks: np.ndarray, track_offset_s: float, speed: float, search_at: Search
) -> tuple[float, float] | None:
    """Each placement's mean prominence at the track's peaks, one value at a time."""
    prom = prom[:: search_at.frame_step]
    n = len(prom)
    pitches = (1.0,) if speed == 1.0 else (1.0, speed)
    offsets = np.arange(
        -search_at.half_width_s, search_at.half_width_s + 1e-9, search_at.step_frames * FRAME_S
    )
    align, wrong = -np.inf, -np.inf
    for time_shift in (0.0, *search_at.time_shifts_s):
        for offset in offsets:
            frames = [
                round(
                    (track_offset_s + i * FRAME_S * search_at.frame_step * speed + time_shift + offset)
                    / FRAME_S
                )
                for i in range(n)
            ]
            if sum(0 <= j < len(peaks) for j in frames) < 0.8 * n:
                continue
            for pitch in pitches:
                for bin_shift in (0, *BIN_SHIFTS) if time_shift == 0.0 else (0,):
                    values = []
                    for i, j in enumerate(frames):
                        if not 0 <= j < len(peaks):
                            continue
                        for b in peaks[j]:
                            if b < 0:
                                continue
                            at = (b if pitch == 1.0 else round((b + _LO) * pitch) - _LO) + bin_shift
                            if 0 <= at < N_BINS:
                                values.append(prom[i, at])
                    if not values:
                        continue
                    mean = float(np.mean(values))
                    if time_shift == 0.0 and bin_shift == 0:
                        align = max(align, mean)
                    else:
                        wrong = max(wrong, mean)
    if not np.isfinite(align):
        return None
    return align, wrong if np.isfinite(wrong) else float("nan")


def _case(seed: int, n_frames: int, track_frames: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    prom = rng.normal(0.0, 3.0, (n_frames, N_BINS)).astype(np.float32)
    # Peaks anywhere in the band, the band's edges included (where pitch and shifts leave it).
    peaks = rng.integers(0, N_BINS, (track_frames, PEAKS_PER_FRAME)).astype(np.int16)
    peaks[rng.random(peaks.shape) < 0.3] = -1
    peaks[: track_frames // 10] = -1  # a silent intro
    peaks[:, 0] = np.where(rng.random(track_frames) < 0.5, 0, N_BINS - 1)
    return prom, peaks


@pytest.mark.parametrize(
    ("seed", "track_offset_s", "speed", "search"),
    [
        (1, 0.0, 1.0, Search()),
        (2, 1.3, 0.97, Search()),
        (3, 2.0, 1.04, Search(half_width_s=1.0, step_frames=3, time_shifts_s=(), frame_step=2)),
        # Placements running past the track's end: only those with 80 % of their frames inside count.
        (4, 5.5, 1.02, Search(half_width_s=1.0, step_frames=2, time_shifts_s=(-1.5, 1.5), frame_step=1)),
    ],
)
def test_placements_score_each_placement_as_defined(
    seed: int, track_offset_s: float, speed: float, search: Search
) -> None:
    prom, peaks = _case(seed, n_frames=120, track_frames=400)
    found = _placements(prom, peaks, track_offset_s, speed, search)
    expected = _by_definition(prom, peaks, track_offset_s, speed, search)
    assert found is not None and expected is not None
    assert found == pytest.approx(expected, abs=1e-4)


def test_no_placement_inside_the_track_gives_none() -> None:
    prom, peaks = _case(5, n_frames=120, track_frames=50)
    assert _placements(prom, peaks, 30.0, 1.0, Search()) is None
    assert _by_definition(prom, peaks, 30.0, 1.0, Search()) is None
