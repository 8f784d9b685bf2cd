"""A play found at a speed variant 1 % off is re-verified at its own; a weaker run reaching into a
stronger play of another track keeps the part outside it (the misses of the tuning set's st2)."""

import numpy as np
import pandas as pd

from pige_pipeline.airplay.bits import verify_values
from pige_pipeline.airplay.fingerprint import ITEM_S
from pige_pipeline.airplay.index import SPEEDS, build_index
from pige_pipeline.airplay.matcher import (
    DEFAULT_PARAMS,
    Candidate,
    Play,
    _best_speed,
    resolve,
    verify_candidate,
)


def _speed_index(base: np.ndarray):
    """One track whose variant at speed s is `base` played s times faster (item j = base[j * s])."""
    variants = [base[np.round(np.arange(int(len(base) / s) - 1) * s).astype(int)] for s in SPEEDS]
    tracks = pd.DataFrame({"track_id": ["T1"], "duration_s": [len(base) * ITEM_S]})
    lengths = np.array([[len(v) for v in variants]], dtype=np.int64)
    return build_index(tracks, lengths, lambda v: variants[v], SPEEDS)


def test_play_found_one_percent_off_is_verified_at_its_own_speed() -> None:
    rng = np.random.default_rng(3)
    n, lead = 2400, 400  # a 297-s track after 50 s of other audio
    base = rng.integers(0, 2**32, n, dtype=np.uint32)
    index = _speed_index(base)
    flips = np.zeros(n, dtype=np.uint32)
    for bit in range(32):
        flips |= (rng.random(n) < 0.12).astype(np.uint32) << np.uint32(bit)
    query = np.concatenate([rng.integers(0, 2**32, lead, dtype=np.uint32), base ^ flips])
    query16 = verify_values(query)
    # The lookup's votes came from the 0.99 variant, around the middle of the play.
    v = SPEEDS.index(0.99)
    k_mid = lead + n // 2
    diagonal = round((k_mid - lead) / 0.99) - k_mid
    cand = Candidate(v, diagonal, 5, k_mid)
    found = verify_candidate(index, query16, cand, DEFAULT_PARAMS)
    # Along a variant 1 % off, the alignment leaves the +-8 items of drift ~100 s from the anchor.
    assert found and max(p.duration_s for p in found) < 0.8 * n * ITEM_S
    chosen = _best_speed(index, query16, cand, found, {v: [diagonal]}, DEFAULT_PARAMS, None, False, False)
    assert len(chosen) == 1
    play = chosen[0]
    assert play.speed == 1.0
    assert abs(play.start_s - lead * ITEM_S) < 1.0
    assert abs(play.end_s - (lead + n) * ITEM_S - 2.7) < 2.0


def test_play_at_its_own_speed_stays() -> None:
    rng = np.random.default_rng(4)
    n = 1600
    base = rng.integers(0, 2**32, n, dtype=np.uint32)
    index = _speed_index(base)
    query16 = verify_values(base)
    v = SPEEDS.index(1.0)
    cand = Candidate(v, 0, 5, n // 2)
    found = verify_candidate(index, query16, cand, DEFAULT_PARAMS)
    chosen = _best_speed(index, query16, cand, found, {v: [0]}, DEFAULT_PARAMS, None, False, False)
    assert chosen is found


def _run(track: int, start: float, errors: list[tuple[float, float]], ref_offset: float = 0.0) -> Play:
    """A verified run with its per-item errors: `errors` is [(seconds, BER), ...] in order."""
    err = np.concatenate([np.full(int(round(s / ITEM_S)), e, dtype=np.float32) for s, e in errors])
    end = start + len(err) * ITEM_S + 1.36
    ber = float(err.mean())
    return Play(
        track,
        f"T{track}",
        start + 0.4,
        end,
        ref_offset,
        1.0,
        ber,
        len(err),
        0.0,
        item_err=err,
        item_t0_s=start,
    )


def test_weaker_run_reaching_into_a_stronger_play_keeps_its_own_part() -> None:
    # A 26-s partial play (BER 0.12) bridged 43 s into the next play over chance blips (BER 0.28).
    partial = _run(17, 3046.0, [(26.0, 0.12), (43.0, 0.28)])
    nxt = _run(7, 3071.9, [(240.0, 0.21)])  # starts at 3072.3
    kept = sorted(resolve([partial, nxt], DEFAULT_PARAMS), key=lambda p: p.start_s)
    assert [p.track for p in kept] == [17, 7]
    cut = kept[0]
    assert abs(cut.end_s - nxt.start_s) < 0.01 and abs(cut.start_s - 3046.4) < 0.01
    assert cut.ber < 0.13
    assert kept[1].start_s == nxt.start_s and kept[1].end_s == nxt.end_s


def test_chance_run_straddling_a_stronger_play_is_still_dropped() -> None:
    # The part outside the strong play is a chance blip: not a play on its own.
    chance = _run(3, 3040.0, [(20.0, 0.30), (60.0, 0.27)])
    strong = _run(7, 3060.0, [(240.0, 0.21)])
    kept = resolve([chance, strong], DEFAULT_PARAMS)
    assert [p.track for p in kept] == [7]
