"""Raw Chromaprint sub-fingerprints through libchromaprint, the same way for catalogue and broadcast.

Chromaprint computes one 32-bit sub-fingerprint per 1365 samples at 11025 Hz (every ~0.124 s); item
`k` summarises the audio in [k * ITEM_S, k * ITEM_S + span) with a span of ~2.7 s. Never mix these
with fpcalc output: fpcalc decodes and resamples differently (field notes).

Speed variants: declaring a sample rate of `11025 * s` to libchromaprint makes it resample the same
samples as if they were played `s` times faster. The catalogue is fingerprinted at a grid of speeds
this way, so that a broadcast played a few percent fast matches one variant without any extra work on
the broadcast side (each extra broadcast-side pass would cost ~0.7 s per hour).

Each row also carries the per-second level profile of the same samples (`music_likeness`), which
`unknown_music` uses to tell music from speech, and its coarse band spectrum (`presence`), which
`talkover` checks a matched track's intro against: these samples are the only decode of the hour.
"""

from __future__ import annotations

import ctypes
import math

import chromaprint
import numpy as np
import pyarrow as pa

from pige_pipeline.airplay.music_likeness import level_profile
from pige_pipeline.airplay.presence import band_spectrum

CHROMAPRINT_RATE = 11025
ITEM_SAMPLES = 1365  # libchromaprint's hop at 11025 Hz (frame 4096, overlap 2/3)
ITEM_S = ITEM_SAMPLES / CHROMAPRINT_RATE
# Audio that item k covers beyond its start: 16 classifier frames + the chroma filter, measured as
# duration - (items - 1) * ITEM_S on long files.
ITEM_SPAN_S = 2.72
# Shorter contiguous pieces give no useful sub-fingerprint.
MIN_PIECE_S = 3.0

_lib = chromaprint._libchromaprint
_lib.chromaprint_get_raw_fingerprint.argtypes = (
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.POINTER(ctypes.c_uint32)),
    ctypes.POINTER(ctypes.c_int),
)
_lib.chromaprint_get_raw_fingerprint.restype = ctypes.c_int

FINGERPRINTS_SCHEMA = pa.schema(
    [
        ("station", pa.string()),
        ("hour", pa.timestamp("us", tz="UTC")),
        ("part_offset_s", pa.float64()),
        ("duration_s", pa.float64()),
        ("speed", pa.float32()),
        ("sample_rate", pa.int32()),
        ("item_s", pa.float64()),
        ("fingerprint", pa.list_(pa.uint32())),
        # one value per whole second of the piece (music_likeness.level_profile)
        ("level_db", pa.list_(pa.float32())),
        ("level_sd_db", pa.list_(pa.float32())),
        ("level_dips", pa.list_(pa.float32())),
        # `presence.BANDS` uint8 dB per frame of `presence.FRAME_S`, frame-major (presence.band_spectrum)
        ("spectrum", pa.list_(pa.uint8())),
    ]
)


class FingerprintError(ValueError):
    """libchromaprint refused the audio."""


def raw_fingerprint(
    samples: np.ndarray, sample_rate: int = CHROMAPRINT_RATE, speed: float = 1.0
) -> np.ndarray:
    """Raw sub-fingerprints (uint32) of mono int16 `samples`, as if played `speed` times faster."""
    samples = np.ascontiguousarray(samples, dtype=np.int16)
    if len(samples) < MIN_PIECE_S * sample_rate:
        return np.zeros(0, dtype=np.uint32)
    declared = int(round(sample_rate * speed))
    printer = chromaprint.Fingerprinter()
    try:
        printer.start(declared, 1)
        printer.feed(samples.tobytes())
        if _lib.chromaprint_finish(printer._ctx) != 1:
            raise FingerprintError("libchromaprint could not finish the fingerprint")
    except chromaprint.FingerprintError as exc:
        raise FingerprintError(f"libchromaprint refused {len(samples)} samples at {declared} Hz") from exc
    ptr = ctypes.POINTER(ctypes.c_uint32)()
    size = ctypes.c_int()
    if _lib.chromaprint_get_raw_fingerprint(printer._ctx, ctypes.byref(ptr), ctypes.byref(size)) != 1:
        raise FingerprintError("libchromaprint returned no raw fingerprint")
    try:
        values = np.ctypeslib.as_array(ptr, shape=(size.value,)).copy() if size.value else np.zeros(0)
    finally:
        _lib.chromaprint_dealloc(ptr)
    return values.astype(np.uint32, copy=False)


def fingerprint_rows(pieces: list[tuple[float, np.ndarray]], sample_rate: int) -> list[dict]:
    """One `fingerprints` row per contiguous piece of the hour (offset into the hour, int16 samples)."""
    if sample_rate != CHROMAPRINT_RATE:
        # libchromaprint would resample internally; the catalogue is printed at 11025 Hz, so refuse
        # anything else rather than build an index that silently never matches.
        raise ValueError(f"fingerprint_rows needs {CHROMAPRINT_RATE} Hz audio, got {sample_rate} Hz")
    rows = []
    for offset_s, samples in pieces:
        duration = len(samples) / sample_rate
        values = raw_fingerprint(samples, sample_rate)
        rows.append(
            {
                "part_offset_s": float(offset_s),
                "duration_s": round(duration, 4),
                "speed": 1.0,
                "sample_rate": sample_rate,
                "item_s": ITEM_S,
                "fingerprint": values,
                **level_profile(samples, sample_rate),
                "spectrum": band_spectrum(samples, sample_rate).reshape(-1),
            }
        )
    return rows


def items_for(seconds: float) -> int:
    """How many sub-fingerprints cover `seconds` of audio."""
    return max(0, math.ceil(seconds / ITEM_S))
