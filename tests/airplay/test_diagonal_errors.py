"""The matcher's bit errors along a diagonal: read through a strided view of the reference, they must be
what comparing each query item with each reference item one by one gives, at the reference's edges too."""

from __future__ import annotations

import numpy as np
import pytest

from pige_pipeline.airplay.bits import VERIFY_BITS
from pige_pipeline.airplay.matcher import diagonal_errors

DRIFT = 8


def _one_by_one(query16: np.ndarray, ref: np.ndarray, k_lo: int, k_hi: int, diagonal: int) -> np.ndarray:
    out = np.full((2 * DRIFT + 1, k_hi - k_lo), VERIFY_BITS / 2, dtype=np.float32)
    for row, r in enumerate(range(-DRIFT, DRIFT + 1)):
        for col, k in enumerate(range(k_lo, k_hi)):
            j = k + diagonal + r
            if 0 <= j < len(ref):
                out[row, col] = bin(int(query16[k]) ^ int(ref[j])).count("1")
    return out


@pytest.mark.parametrize(
    ("k_lo", "k_hi", "diagonal"),
    [
        (100, 300, 50),  # well inside the reference
        (0, 200, -5),  # the first rows start before the reference
        (0, 400, 40),  # the last rows run past its end
        (0, 500, -200),  # past both ends
        (10, 60, 120),  # the first query item faces the reference's last items
        (0, 100, 500),  # entirely past the reference
        (0, 100, -600),  # entirely before it
        (5, 5, 0),  # no query item
    ],
)
def test_diagonal_errors_are_each_items_bit_errors(k_lo: int, k_hi: int, diagonal: int) -> None:
    rng = np.random.default_rng([k_lo, k_hi, diagonal + 1000])
    query16 = rng.integers(0, 2**16, 600, dtype=np.uint16)
    ref = rng.integers(0, 2**16, 140, dtype=np.uint16)
    got = diagonal_errors(query16, ref, k_lo, k_hi, diagonal, DRIFT)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, _one_by_one(query16, ref, k_lo, k_hi, diagonal))
