"""The numpy sliding windows of the detector give scipy.ndimage's results, edges included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

from pige_pipeline.silence.sliding import moving_max, moving_mean, moving_min


@pytest.mark.parametrize("size", [1, 2, 5, 40, 83, 200])
def test_windows_match_scipy(size: int) -> None:
    rng = np.random.default_rng(size)
    levels = rng.normal(-40.0, 15.0, 150)
    shares = rng.random((150, 12))
    mask = rng.random(150) < 0.7
    np.testing.assert_allclose(moving_mean(levels, size), uniform_filter1d(levels, size, mode="nearest"))
    np.testing.assert_allclose(
        moving_mean(shares, size), uniform_filter1d(shares, size, axis=0, mode="nearest"), atol=1e-12
    )
    assert (moving_min(levels, size) == minimum_filter1d(levels, size, mode="nearest")).all()
    assert (moving_max(levels, size) == maximum_filter1d(levels, size, mode="nearest")).all()
    expected = maximum_filter1d(mask.astype(np.uint8), size, mode="constant").astype(bool)
    assert (moving_max(mask, size, cval=False) == expected).all()
    assert (moving_min(mask, size) == minimum_filter1d(mask.astype(np.uint8), size, mode="nearest")).all()
