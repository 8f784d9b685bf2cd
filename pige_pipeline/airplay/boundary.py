"""Join an hour's sub-fingerprints with a margin of its neighbours' so plays across the boundary are whole.

Each hour is fingerprinted alone, so a play cut by the hour boundary is two pieces, and a part shorter
than `min_play_s` (or too short to verify) is lost to the hour that holds it. Matching an hour
therefore reads the last `MARGIN_S` of the previous hour's `fingerprints` and the first `MARGIN_S` of
the next hour's, when they exist and their audio reaches the boundary, and matches one joined piece.
Nothing is decoded again: the neighbours' stored sub-fingerprints are reused.

The joined piece has a blind span at each boundary: the ~2.7 s of items whose audio would straddle it
(each hour's last items end at its end), marked invalid, which the matcher bridges. An hour edge whose
neighbour is not fingerprinted yet is left open: the track's own edge may be extrapolated across it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pige_pipeline.airplay.fingerprint import ITEM_S, ITEM_SPAN_S
from pige_pipeline.hours import HOUR

HOUR_S = HOUR.total_seconds()
# Long enough that a part of a few seconds on this side, plus the margin, verifies as a play.
MARGIN_S = 45.0
# A piece this close to the hour's edge reaches it (recorders cut on the wall clock).
EDGE_TOLERANCE_S = 0.5


@dataclass
class JoinedPiece:
    """Contiguous items on one grid (times in seconds into the hour being matched; may be negative)."""

    offset_s: float
    duration_s: float
    items: np.ndarray  # uint32
    valid: np.ndarray  # bool: False where no audio was fingerprinted (the blind span at a boundary)
    open_before: bool
    open_after: bool


def _pieces(rows: list[dict] | None) -> list[tuple[float, float, np.ndarray]]:
    """(offset_s, duration_s, items) of the speed-1.0 rows, in time order."""
    out = []
    for row in rows or []:
        if float(row.get("speed", 1.0)) != 1.0:
            continue
        items = np.asarray(row["fingerprint"], dtype=np.uint32)
        duration = row.get("duration_s")
        duration = float(duration) if duration is not None else len(items) * ITEM_S + ITEM_SPAN_S
        out.append((float(row["part_offset_s"]), duration, items))
    return sorted(out, key=lambda p: p[0])


def joined_pieces(
    hour_rows: list[dict],
    previous_rows: list[dict] | None,
    next_rows: list[dict] | None,
    margin_s: float = MARGIN_S,
) -> list[JoinedPiece]:
    """The hour's pieces, the first and last joined with the neighbours' margins where audio continues.

    `previous_rows` / `next_rows` are the neighbours' `fingerprints` rows, or None when that hour has
    not been fingerprinted yet (its edge is then open).
    """
    own = _pieces(hour_rows)
    out = [
        JoinedPiece(off, dur, items, np.ones(len(items), dtype=bool), False, False) for off, dur, items in own
    ]
    if not out:
        return out
    first, last = out[0], out[-1]
    if first.offset_s <= EDGE_TOLERANCE_S:
        if previous_rows is None:
            first.open_before = True
        else:
            before = _pieces(previous_rows)
            if before and before[-1][0] + before[-1][1] >= HOUR_S - EDGE_TOLERANCE_S:
                off, dur, items = before[-1]
                out[0] = first = _join(_tail(off - HOUR_S, dur, items, margin_s), first)
    if last.offset_s + last.duration_s >= HOUR_S - EDGE_TOLERANCE_S:
        if next_rows is None:
            last.open_after = True
        else:
            after = _pieces(next_rows)
            if after and after[0][0] <= EDGE_TOLERANCE_S:
                off, dur, items = after[0]
                out[-1] = _join(last, _head(off + HOUR_S, dur, items, margin_s))
    return out


def _tail(offset_s: float, duration_s: float, items: np.ndarray, margin_s: float) -> JoinedPiece:
    """The items of a piece that start in its last `margin_s`."""
    first = max(0, int(np.ceil((duration_s - margin_s) / ITEM_S)))
    first = min(first, len(items))
    start = offset_s + first * ITEM_S
    kept = items[first:]
    return JoinedPiece(
        start, offset_s + duration_s - start, kept, np.ones(len(kept), dtype=bool), False, False
    )


def _head(offset_s: float, duration_s: float, items: np.ndarray, margin_s: float) -> JoinedPiece:
    """The items of a piece that end in its first `margin_s`."""
    count = max(0, min(len(items), int((margin_s - ITEM_SPAN_S) / ITEM_S) + 1))
    kept = items[:count]
    end = offset_s + min(duration_s, (count - 1) * ITEM_S + ITEM_SPAN_S) if count else offset_s
    return JoinedPiece(offset_s, end - offset_s, kept, np.ones(len(kept), dtype=bool), False, False)


def _join(a: JoinedPiece, b: JoinedPiece) -> JoinedPiece:
    """`a` then `b` on `a`'s item grid, with invalid filler items where neither has any."""
    if len(a.items) == 0:
        return JoinedPiece(b.offset_s, b.duration_s, b.items, b.valid, a.open_before, b.open_after)
    # b's items land on the nearest grid position (at most half an item, 0.06 s, off).
    at = max(len(a.items), int(round((b.offset_s - a.offset_s) / ITEM_S)))
    n = at + len(b.items)
    items = np.zeros(n, dtype=np.uint32)
    valid = np.zeros(n, dtype=bool)
    items[: len(a.items)], valid[: len(a.items)] = a.items, a.valid
    items[at:], valid[at:] = b.items, b.valid
    end = max(a.offset_s + a.duration_s, b.offset_s + b.duration_s)
    return JoinedPiece(a.offset_s, end - a.offset_s, items, valid, a.open_before, b.open_after)
