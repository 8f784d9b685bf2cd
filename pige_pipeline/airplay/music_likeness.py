"""Is a stretch of audio music or speech? A per-second level profile and the score built on it.

Speech comes in syllables and pauses: within one second its short-term level swings by 10-20 dB and
drops far below the second's loud frames several times. Music (even quiet, sparse or broadcast-
compressed music) keeps a steadier level. Two figures per second of 23-ms frames capture this:
- `level_sd_db`: the standard deviation of the frame levels (dB),
- `level_dips`: the share of frames more than 15 dB below the second's 90th-percentile frame.
`music_score` = mean level_sd_db + 30 x mean level_dips over a window; below MUSIC_SCORE_MAX it is
music. Measured on 30-s windows of the airplay evaluation sets and the demo programme (docs/airplay.md,
`python -m benchmarks.music_speech`): music at most 13.9, speech at least 19.7. Each second is judged
by the WINDOW_S seconds around it, and the ends of a run of music by the EDGE_WINDOW_S around them.

The profile is computed from the samples the fingerprints are computed from, so it costs no decode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

FRAME = 256  # samples: 23 ms at 11025 Hz, shorter than a syllable
DIP_DB = 15.0
DIP_WEIGHT = 30.0
# Midpoint of the measured gap (music <= 14.2, speech >= 17.8 on 30-s windows).
MUSIC_SCORE_MAX = 16.0
# Seconds around each second that decide it: longer separates better inside a block, shorter blurs
# the edges less. 14 s: 99.2 % of music seconds found, 3.8 % of speech seconds (all within 7 s of a
# block edge) called music; 30 s: 99.1 % and 10.6 % (docs/airplay.md).
WINDOW_S = 14
# Then each run of music is trimmed at its ends to seconds whose 5 s around score as music: speech
# seconds called music 3.8 % -> 0.8 %, music found 99.2 % -> 99.0 % (docs/airplay.md).
EDGE_WINDOW_S = 5
# Quieter than this (90th-percentile frame, dBFS) is a silence or a noise floor, never music.
MIN_MUSIC_LEVEL_DBFS = -45.0
_FULL_SCALE = 32768.0
_CHUNK_S = 240
# What level_profile returns, and the `fingerprints` columns that store it.
PROFILE_COLUMNS = ("level_db", "level_sd_db", "level_dips")


def level_profile(samples: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """Per whole second of `samples` (int16 mono): level_db (dBFS), level_sd_db and level_dips."""
    per_second = sample_rate // FRAME
    seconds = len(samples) // sample_rate
    if seconds == 0 or per_second == 0:
        return {name: np.zeros(0, dtype=np.float32) for name in PROFILE_COLUMNS}
    # Exact 1-s blocks (so second k of the profile is second k of the piece); the few samples of each
    # second beyond whole frames are left out.
    blocks = samples[: seconds * sample_rate].reshape(seconds, sample_rate)[:, : per_second * FRAME]
    energy = np.empty((seconds, per_second), dtype=np.float32)
    # A few minutes at a time: one float copy of a whole hour (160 MB) cost 0.4 s in fresh pages alone.
    for start in range(0, seconds, _CHUNK_S):
        frames = blocks[start : start + _CHUNK_S].astype(np.float32).reshape(-1, per_second, FRAME)
        energy[start : start + _CHUNK_S] = np.einsum("ijk,ijk->ij", frames, frames) / FRAME
    # +1 keeps digital silence finite (0 dB on the int16 scale, i.e. -90 dBFS)
    level = 20 * np.log10(np.sqrt(energy) + 1.0)
    loud = np.percentile(level, 90, axis=1)
    return {
        "level_db": (loud - 20 * np.log10(_FULL_SCALE)).astype(np.float32),
        "level_sd_db": level.std(axis=1).astype(np.float32),
        "level_dips": np.mean(level < loud[:, None] - DIP_DB, axis=1).astype(np.float32),
    }


def profile_from_row(row: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """The level profile of a `fingerprints` row, or None for rows written before it existed."""
    if any(row.get(name) is None for name in PROFILE_COLUMNS):
        return None
    return {name: np.asarray(row[name], dtype=np.float32) for name in PROFILE_COLUMNS}


def music_seconds(profile: Mapping[str, np.ndarray]) -> np.ndarray:
    """Boolean per second of a level profile: the WINDOW_S-s window around it scores as music, not silent."""
    if len(profile["level_sd_db"]) == 0:
        return np.zeros(0, dtype=bool)
    per_second = profile["level_sd_db"].astype(np.float64) + DIP_WEIGHT * profile["level_dips"].astype(
        np.float64
    )
    music = (_window_mean(per_second, WINDOW_S) < MUSIC_SCORE_MAX) & (
        _window_mean(profile["level_db"].astype(np.float64), WINDOW_S) > MIN_MUSIC_LEVEL_DBFS
    )
    # The long window lets music spill up to WINDOW_S / 2 into the talk next to it: trim each run back
    # to its first and last second whose EDGE_WINDOW_S surroundings score as music.
    local = _window_mean(per_second, EDGE_WINDOW_S) < MUSIC_SCORE_MAX
    for a, b in mask_runs(music):
        inside = np.flatnonzero(local[a:b])
        if len(inside) == 0:
            music[a:b] = False
            continue
        music[a : a + inside[0]] = False
        music[a + inside[-1] + 1 : b] = False
    return music


def mask_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[a, b) index ranges where `mask` is true."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def music_score(level_sd_db: np.ndarray, level_dips: np.ndarray) -> float:
    """The score of a whole stretch (lower is more music-like)."""
    if len(level_sd_db) == 0:
        return float("nan")
    return float(np.mean(level_sd_db) + DIP_WEIGHT * np.mean(level_dips))


def _window_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean over the `window` seconds centred on each second, clipped at the ends."""
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(len(values))
    lo = np.clip(idx - window // 2, 0, len(values))
    hi = np.clip(idx + window - window // 2, 0, len(values))
    return (csum[hi] - csum[lo]) / (hi - lo)
