"""Find catalogue plays in a stream of sub-fingerprints: lookup, alignment, verification, segmentation.

1. Lookup: every query item's key (its most robust bits) gives postings (track, speed, position);
   each posting votes for an alignment diagonal d = reference item - query item.
2. Candidates: (track, speed, diagonal) with enough votes.
3. Verification: along the candidate's diagonal (+- `max_drift` items, which absorbs up to 0.5 %
   residual speed error), the bit error rate of the 16 robust bits, smoothed over `smooth_items`.
4. Segmentation: items under `seg_ber` form runs; runs closer than `merge_gap_s` merge (talk-over);
   a run is a play when it lasts `min_play_s` and its mean BER is under `accept_ber`. An accepted
   play is verified again at the neighbouring speed variants (`_best_speed`).
5. Resolution: variants of the same play (neighbouring speeds or diagonals) merge; different tracks
   may overlap by a crossfade, not more: the weaker is cut at the stronger's edge, or dropped.
Thresholds come from `benchmarks/airplay_eval.py --calibrate` (docs/airplay.md says how).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.ndimage import uniform_filter1d

from pige_pipeline.airplay.bits import VERIFY_BITS, pack_bits, popcount16, verify_values
from pige_pipeline.airplay.boundary import HOUR_S, joined_pieces
from pige_pipeline.airplay.fine_presence import StretchAudio
from pige_pipeline.airplay.fingerprint import ITEM_S, ITEM_SPAN_S
from pige_pipeline.airplay.index import CatalogueIndex
from pige_pipeline.airplay.notes_check import airings
from pige_pipeline.airplay.presence import spectra_from_rows
from pige_pipeline.airplay.talkover import extend_over_talk, profiles_from_rows

_CHANCE = VERIFY_BITS / 2
# Mean BER of unrelated audio on the 16 robust bits (0.49 whole-track, 0.38 at worst).
CHANCE_BER = 0.45


@dataclass(frozen=True)
class MatchParams:
    """Matcher thresholds (BER on the 16 robust bits; 0.5 is chance)."""

    seg_ber: float = 0.30
    # A candidate's best 12-s window must reach this before its whole diagonal is verified.
    local_ber: float = 0.26
    # Hard ceiling; below it a play is accepted when its calibrated confidence reaches min_confidence
    # (a long run at a middling BER is as unlikely by chance as a short run at a low one).
    accept_ber: float = 0.30
    min_confidence: float = 0.5
    smooth_items: int = 24
    max_drift: int = 8
    merge_gap_s: float = 20.0
    # Two runs of one track are one airing when their alignments agree within 3 s, or within this share
    # of the airing's length: a programme time-compressed 2-4 % (pitch kept) matches at speed 1.0 and
    # drifts off the diagonal by that share, so its plays come in pieces.
    merge_drift: float = 0.04
    min_run_s: float = 4.0
    min_play_s: float = 10.0
    min_votes: int = 3
    max_bucket: int = 400
    max_candidates_per_hour: int = 20000
    max_crossfade_s: float = 15.0
    # Where inside an edge item's ~2.7 s window the cut lies once the item counts as matched (the
    # window is mostly inside the play); medians of the evaluation set's boundary errors.
    start_centre_s: float = 0.4
    end_centre_s: float = 1.36
    snap_s: float = 3.0
    # Logistic confidence on the evidence (CHANCE_BER - ber) * sqrt(duration_s): a chance alignment's
    # mean BER tightens around chance as 1/sqrt(duration), so this is a z-score up to a constant.
    conf_a: float = 11.7
    conf_c: float = -14.6
    # A real airing, however degraded (codec, FM processing, speed, noise, a voice over part of it), has
    # a stretch of `window_s` where the fingerprints agree well; music that only resembles a catalogue
    # track (the same composer's variation on its theme, at another tempo) agrees middlingly all along.
    # A play whose BER reaches `middling_ber` needs a window under `window_ber`.
    window_s: float = 10.0
    window_ber: float = 0.185
    middling_ber: float = 0.22


DEFAULT_PARAMS = MatchParams()
# A neighbouring speed variant replaces a play's only when its strongest play is this much stronger:
# on a short play every variant within `max_drift` sees the same items, and the strengths differ by
# noise (~2 %); a play found at a variant 1 % off its speed grows 1.5-4x at its own.
SPEED_STEP_GAIN = 1.1


@dataclass
class Play:
    """A verified play of one track inside one contiguous piece (times in seconds into the hour)."""

    track: int
    track_id: str
    start_s: float
    end_s: float
    ref_offset_s: float
    speed: float
    ber: float
    n_items: int
    diagonal: float
    confidence: float = 0.0
    piece_start_s: float = 0.0
    piece_end_s: float = 0.0
    # Each item's bit error rate along the run (NaN where none was measured) and the first item's time
    # (seconds into the piece): what is left of a play cut at a stronger play's edge is scored on them.
    item_err: np.ndarray | None = field(default=None, repr=False, compare=False)
    item_t0_s: float = field(default=0.0, repr=False, compare=False)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def score(self) -> float:
        return float(np.clip(1.0 - self.ber / 0.5, 0.0, 1.0))

    def track_s(self, recording_s: float) -> float:
        """The track's second heard at the recording's second `recording_s`, along the play."""
        return self.ref_offset_s + (recording_s - self.start_s) * self.speed


@dataclass
class Candidate:
    segment: int  # g = speed * n_tracks + track
    diagonal: int
    votes: int
    query_item: int = 0  # centre of the query block the votes came from


def find_candidates(
    index: CatalogueIndex,
    query: np.ndarray,
    params: MatchParams = DEFAULT_PARAMS,
    valid: np.ndarray | None = None,
) -> list[Candidate]:
    """Vote (segment, diagonal) from key lookups of every valid query item; most-voted first."""
    n = len(query)
    if n == 0 or index.n_tracks == 0:
        return []
    keys = pack_bits(query, index.key_bits).astype(np.int64)
    # A held note repeats one key for many items; its repeats would all vote, so only the first does.
    repeat = np.concatenate([[False], keys[1:] == keys[:-1]])
    if valid is not None:
        repeat |= ~valid  # filler items where no audio was fingerprinted do not vote
    ks, ps = [], []
    for v in range(len(index.speeds)):
        offsets = index.offsets[v]
        lo = np.asarray(offsets[keys], dtype=np.int64)
        cnt = np.asarray(offsets[keys + 1], dtype=np.int64) - lo
        # Over-full buckets come from silence or drones and only add noise votes.
        cnt[(cnt > params.max_bucket) | repeat] = 0
        total = int(cnt.sum())
        if total == 0:
            continue
        first = np.cumsum(cnt) - cnt
        idx = np.repeat(lo - first, cnt) + np.arange(total, dtype=np.int64)
        ps.append(np.asarray(index.postings[v][idx], dtype=np.int64))
        ks.append(np.repeat(np.arange(n, dtype=np.int64), cnt))
    if not ps:
        return []
    k = np.concatenate(ks)
    p = np.concatenate(ps)
    g = np.searchsorted(index.seg_start, p, side="right") - 1
    d = p - index.seg_start[g] - k
    # Votes count inside (segment, 1-s diagonal bin, ~15-s query block): a true play's hits cluster
    # in time, chance hits are spread over the hour.
    width, block = 8, 120
    n_dbins = (n + int(np.diff(index.seg_start).max()) + 2 * width) // width + 2
    n_blocks = n // block + 1
    code = (g * n_dbins + (d + n + width) // width) * n_blocks + k // block
    uniq, inverse, counts = np.unique(code, return_inverse=True, return_counts=True)
    dsum = np.bincount(inverse, weights=d.astype(np.float64))
    # A true diagonal's votes can straddle two diagonal bins: add the next bin's votes.
    nxt = np.searchsorted(uniq, uniq + n_blocks)
    nxt_c = np.minimum(nxt, len(uniq) - 1)
    has_next = (nxt < len(uniq)) & (uniq[nxt_c] == uniq + n_blocks)
    pair = counts + np.where(has_next, counts[nxt_c], 0)
    pair_d = dsum + np.where(has_next, dsum[nxt_c], 0)
    keep = np.flatnonzero(pair >= params.min_votes)
    limit = max(200, int(n * ITEM_S / 3600 * params.max_candidates_per_hour))
    keep = keep[np.argsort(-pair[keep], kind="stable")][:limit]
    # Built column by column (np.round rounds half to even, as round() did per candidate).
    segments = (uniq[keep] // n_blocks // n_dbins).tolist()
    diagonals = np.round(pair_d[keep] / pair[keep]).astype(np.int64).tolist()
    items = ((uniq[keep] % n_blocks) * block + block // 2).tolist()
    return [
        Candidate(*fields) for fields in zip(segments, diagonals, pair[keep].tolist(), items, strict=True)
    ]


def _boxcar(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean along the last axis (edges repeat the edge value)."""
    return uniform_filter1d(np.asarray(values, dtype=np.float32), size=width, axis=-1, mode="nearest")


def verify_candidate(
    index: CatalogueIndex,
    query16: np.ndarray,
    cand: Candidate,
    params: MatchParams = DEFAULT_PARAMS,
    valid: np.ndarray | None = None,
    open_before: bool = False,
    open_after: bool = False,
) -> list[Play]:
    """Runs along the candidate's diagonal whose bit error rate says the track is playing.

    `valid` marks the items that hold audio (False in the blind span where two hours' pieces are
    joined); `open_before`/`open_after` say the audio goes on beyond the query, unseen (an hour edge
    whose neighbour is not fingerprinted yet), so an edge may be extrapolated past it.
    """
    ref = np.asarray(index.segment(cand.segment))
    nq, nr, drift = len(query16), len(ref), params.max_drift
    k_lo, k_hi = max(0, -cand.diagonal - drift), min(nq, nr - cand.diagonal + drift)
    min_items = int(params.min_play_s / ITEM_S)
    if k_hi - k_lo < min_items:
        return []
    ks = np.arange(k_lo, k_hi)
    errors = diagonal_errors(query16, ref, k_lo, k_hi, cand.diagonal, drift)
    if valid is None or valid[k_lo:k_hi].all():
        # Most candidates of a joined piece lie away from its blind span: the plain path is cheaper.
        weight = np.ones(len(ks), dtype=np.float32)
        smooth = _boxcar(errors, params.smooth_items) / VERIFY_BITS
    else:
        # Mean error over the valid items of each window: a blind span is bridged by its neighbours.
        weight = valid[ks].astype(np.float32)
        cover = _boxcar(weight, params.smooth_items)
        total = _boxcar(errors * weight, params.smooth_items)
        smooth = np.where(cover > 0.5 / params.smooth_items, total / np.maximum(cover, 1e-6), _CHANCE)
        smooth /= VERIFY_BITS
    best_r = smooth.argmin(axis=0)
    best = smooth[best_r, np.arange(len(ks))]
    matched = best < params.seg_ber
    # Chance alignments give short matched blips; only runs of a few seconds may be bridged over a
    # talk-over gap, or a blip before a mid-track join would pull the start early.
    solid = [(a, b) for a, b in _runs(matched, 8) if (b - a) * ITEM_S >= params.min_run_s]
    runs = _bridge(solid, int(params.merge_gap_s / ITEM_S))
    n_tracks = index.n_tracks
    track, v = cand.segment % n_tracks, cand.segment // n_tracks
    speed = float(index.speeds[v])
    plays = []
    for a, b in runs:
        r_run = _median_row(best_r[a:b])
        item_err = np.where(weight > 0, errors[r_run] / VERIFY_BITS, np.nan)
        a, b = _refine(item_err, a, b, params)
        if (b - a) * ITEM_S < params.min_play_s * 0.5:
            continue
        run_err = errors[best_r[a:b], np.arange(a, b)] / VERIFY_BITS
        run_weight = weight[a:b]
        if run_weight.sum() < 1:
            continue
        ber = float((run_err * run_weight).sum() / run_weight.sum())
        k_start, k_end = int(ks[a]), int(ks[b - 1])
        # The drift at the edges: the median over ~10 s, as one edge item's best drift is noisy (a
        # wrong one moves a snapped edge by up to `max_drift` items).
        edge = max(1, int(10.0 / ITEM_S))
        j_start = k_start + cand.diagonal + (_median_row(best_r[a : a + edge]) - drift)
        j_end = k_end + cand.diagonal + (_median_row(best_r[max(a, b - edge) : b]) - drift)
        lead, tail = params.start_centre_s, params.end_centre_s
        # A blind span right before (after) the run hides where the play began (ended): the snap to
        # the track's own edge may reach across it.
        reach_before = params.snap_s + _blind_items(valid, k_start, -1, params.smooth_items) * ITEM_S
        reach_after = params.snap_s + _blind_items(valid, k_end, 1, params.smooth_items) * ITEM_S
        if j_start * ITEM_S * speed < reach_before:
            # The first seconds of a track follow other audio, which spoils the first items:
            # a play whose first match is this close to the track's start began at the start.
            if open_before:
                k_start, j_start = k_start - j_start, 0
            else:
                k_start, j_start = max(0, k_start - j_start), max(0, j_start - k_start)
            lead = 0.0
        if (nr - 1 - j_end) * ITEM_S * speed < reach_after:
            k_end = k_end + nr - 1 - j_end if open_after else min(nq - 1, k_end + nr - 1 - j_end)
            j_end, tail = nr - 1, ITEM_SPAN_S
        # A piece's own first and last items have no audio before or after them to be spoiled by.
        if k_start == 0:
            lead = 0.0
        if k_end == nq - 1:
            tail = ITEM_SPAN_S
        plays.append(
            Play(
                track=int(track),
                track_id=index.track_ids[track],
                start_s=k_start * ITEM_S + lead,
                end_s=k_end * ITEM_S + tail,
                ref_offset_s=max(0.0, (j_start * ITEM_S + lead) * speed),
                speed=speed,
                ber=ber,
                n_items=int(run_weight.sum()),
                diagonal=float(cand.diagonal + r_run - drift),
                item_err=np.where(run_weight > 0, run_err, np.nan).astype(np.float32),
                item_t0_s=int(ks[a]) * ITEM_S,
            )
        )
    return plays


def _median_row(rows: np.ndarray) -> int:
    """`int(np.median(rows))` of `argmin` row numbers (>= 0, at least one), without np.median's
    overhead: it ran three times per verified run, more than the rest of the run's bookkeeping."""
    s = np.sort(rows)
    m = len(s)
    return int(s[m // 2]) if m % 2 else (int(s[m // 2 - 1]) + int(s[m // 2])) // 2


def _blind_items(valid: np.ndarray | None, k: int, step: int, within: int) -> int:
    """Items from `k` to the far side of a blind span that begins within `within` items of it.

    The run's edge item is rarely the last valid one before the span (smoothing and the spoiled
    items next to other audio stop it a little short), hence the `within` items of slack.
    """
    if valid is None:
        return 0
    i, n = k + step, len(valid)
    while 0 <= i < n and abs(i - k) <= within and valid[i]:
        i += step
    if not (0 <= i < n) or valid[i]:
        return 0
    while 0 <= i < n and not valid[i]:
        i += step
    return abs(i - k) - 1


def diagonal_errors(
    query16: np.ndarray, ref: np.ndarray, k_lo: int, k_hi: int, diagonal: int, drift: int
) -> np.ndarray:
    """Bit errors (float32, rows: drift -`drift`..`drift`) of query items [k_lo, k_hi) against the
    reference item `diagonal` + drift after each; `_CHANCE` where that item is outside `ref`.

    The rows are windows of one stretch of `ref` (a strided view, nothing gathered): the verification
    of every candidate and the local check of every vote cluster run through here.
    """
    n, rows = k_hi - k_lo, 2 * drift + 1
    j0 = k_lo + diagonal - drift  # the reference item facing query item k_lo in the first row
    total = rows - 1 + n
    first, stop = max(j0, 0), min(j0 + total, len(ref))
    if n <= 0 or stop <= first:
        return np.full((rows, max(n, 0)), _CHANCE, dtype=np.float32)
    stretch = ref[first:stop]
    padded = first - j0 > 0 or stop - first < total
    if padded:
        stretch = np.concatenate(
            [np.zeros(first - j0, ref.dtype), stretch, np.zeros(total - (stop - j0), ref.dtype)]
        )
    windows = np.lib.stride_tricks.sliding_window_view(stretch, n)
    errors = popcount16(windows ^ query16[k_lo:k_hi]).astype(np.float32)
    if padded:
        for row in range(rows):
            a, b = max(0, -(j0 + row)), max(0, min(n, len(ref) - (j0 + row)))
            errors[row, :a] = _CHANCE
            errors[row, max(a, b) :] = _CHANCE
    return errors


def _local_ber(query16: np.ndarray, ref: np.ndarray, ks: np.ndarray, diagonal: int, drift: int) -> float:
    """Lowest BER of 12-s windows (every 6 s) along a short stretch of the diagonal, over all drifts.

    `ks`: ascending query items, gaps allowed (a blind span left out).
    """
    k0 = int(ks[0])
    err = diagonal_errors(query16, ref, k0, int(ks[-1]) + 1, diagonal, drift)[:, ks - k0].astype(np.float64)
    win = 96
    if err.shape[1] < win:
        return float(err.mean(axis=1).min() / VERIFY_BITS)
    csum = np.concatenate([np.zeros((2 * drift + 1, 1)), np.cumsum(err, axis=1)], axis=1)
    starts = np.arange(0, err.shape[1] - win + 1, win // 2)
    return float(((csum[:, starts + win] - csum[:, starts]) / win).min() / VERIFY_BITS)


def _bridge(runs: list[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in runs:
        if out and a - out[-1][1] <= max_gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _runs(mask: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """[start, end) runs of True, joining runs separated by at most `max_gap` False items."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _refine(item_err: np.ndarray, a: int, b: int, params: MatchParams) -> tuple[int, int]:
    """Move run edges to the first (last) item whose error is nearer the run's than chance.

    Such an item's window lies mostly inside the play, which makes the edge independent of how
    degraded the audio is (a fixed threshold would cut clean audio late and noisy audio early).
    """
    inside = float(np.median(item_err[a:b]))
    threshold = min(params.seg_ber, (inside + 0.47) / 2)
    w = params.smooth_items
    n = len(item_err)
    near = _boxcar(item_err, 4) < threshold
    lo, hi = max(0, a - w), min(n, a + w)
    good = np.flatnonzero(near[lo:hi])
    new_a = lo + int(good[0]) if len(good) else a
    lo, hi = max(0, b - w), min(n, b + w)
    good = np.flatnonzero(near[lo:hi])
    new_b = lo + int(good[-1]) + 1 if len(good) else b
    return (new_a, new_b) if new_b > new_a else (a, b)


def match_piece(
    index: CatalogueIndex,
    query: np.ndarray,
    offset_s: float = 0.0,
    params: MatchParams = DEFAULT_PARAMS,
    duration_s: float | None = None,
    valid: np.ndarray | None = None,
    open_before: bool = False,
    open_after: bool = False,
) -> list[Play]:
    """Verified, resolved plays in one contiguous piece of sub-fingerprints.

    `valid`, `open_before` and `open_after` are `verify_candidate`'s (a piece joined across an hour
    boundary; `boundary.joined_pieces`). Edges extrapolated past an open end are kept.
    """
    query = np.asarray(query, dtype=np.uint32)
    query16 = verify_values(query)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
    raw: list[Play] = []
    done: dict[int, list[int]] = {}
    covered: dict[int, list[tuple[float, float]]] = {}
    n_tracks = index.n_tracks
    for cand in find_candidates(index, query, params, valid):
        seen = done.setdefault(cand.segment, [])
        if any(abs(cand.diagonal - d) <= params.max_drift for d in seen):
            continue
        # Once a play of this track explains the votes' moment, other speeds and diagonals of the same
        # airing add nothing.
        at = cand.query_item * ITEM_S
        if any(a <= at <= b for a, b in covered.get(cand.segment % n_tracks, [])):
            continue
        # Cheap local check first: most candidates are chance votes and stop here.
        ref = np.asarray(index.segment(cand.segment))
        local = np.arange(max(0, cand.query_item - 120), min(len(query16), cand.query_item + 120))
        if valid is not None:
            local = local[valid[local]]
            if len(local) == 0:
                continue
        if _local_ber(query16, ref, local, cand.diagonal, params.max_drift) >= params.local_ber:
            continue
        seen.append(cand.diagonal)
        found = verify_candidate(index, query16, cand, params, valid, open_before, open_after)
        found = _best_speed(index, query16, cand, found, done, params, valid, open_before, open_after)
        raw.extend(found)
        covered.setdefault(cand.segment % n_tracks, []).extend(
            (p.start_s, p.end_s) for p in found if p.ber < params.accept_ber
        )
    end = duration_s if duration_s is not None else len(query) * ITEM_S + ITEM_SPAN_S
    plays = []
    for play in resolve(raw, params):
        if play.ber >= params.accept_ber or play.duration_s < params.min_play_s:
            continue
        track_left = float(index.tracks["duration_s"].iat[play.track]) - play.ref_offset_s
        start = play.start_s if open_before else max(0.0, play.start_s)
        stop = min(play.end_s, play.start_s + track_left / play.speed + 0.5)
        if not open_after or stop < end:
            stop = min(end, stop)
            if stop >= end - ITEM_S:
                # The last item reaches the piece's end (the item grid stops short of it by < 1 item).
                stop = end
        play = replace(play, start_s=offset_s + start, end_s=offset_s + stop)
        play.piece_start_s, play.piece_end_s = offset_s, offset_s + end
        play.confidence = confidence(play, params)
        if play.confidence >= params.min_confidence and not _resembles_only(play, params):
            plays.append(play)
    return sorted(plays, key=lambda p: p.start_s)


def best_window_ber(play: Play, window_s: float) -> float:
    """The lowest mean BER over `window_s` of the play's items (unmeasured items left out)."""
    err = play.item_err
    n = max(1, int(round(window_s / ITEM_S)))
    if err is None or len(err) < n:
        return play.ber
    measured = ~np.isnan(err)
    sums = np.concatenate(([0.0], np.cumsum(np.where(measured, err, 0.0), dtype=np.float64)))
    counts = np.concatenate(([0], np.cumsum(measured)))
    total, seen = sums[n:] - sums[:-n], counts[n:] - counts[:-n]
    # A window counts when at least half its items were measured.
    full = seen * 2 >= n
    return float(np.min(total[full] / seen[full])) if full.any() else play.ber


def _resembles_only(play: Play, params: MatchParams) -> bool:
    """A middling play with no window where its fingerprints agree well: related music, not an airing."""
    return play.ber >= params.middling_ber and best_window_ber(play, params.window_s) >= params.window_ber


def _best_speed(
    index: CatalogueIndex,
    query16: np.ndarray,
    cand: Candidate,
    found: list[Play],
    done: dict[int, list[int]],
    params: MatchParams,
    valid: np.ndarray | None,
    open_before: bool,
    open_after: bool,
) -> list[Play]:
    """`found`, or the same airing verified at a neighbouring speed variant where it is stronger there.

    Lookup keys are exact matches of 14-22 bits: on low-bitrate, compressed audio a play's own speed
    variant can miss the few votes a candidate needs while a variant 1 % off gets them. Along such a
    variant the alignment drifts out of `max_drift` within ~100 s, so the play comes out split, with a
    higher BER, and loses to chance alignments of other tracks. From an accepted play, the same
    reference position is mapped to the neighbouring variants, and the walk goes on while the
    strongest play gets stronger by `SPEED_STEP_GAIN`; the plays of the strongest variant replace
    `found`.
    """
    accepted = [
        p
        for p in found
        if p.ber < params.accept_ber
        and p.duration_s >= params.min_play_s
        and confidence(p, params) >= params.min_confidence
    ]
    if not accepted:
        return found
    best = max(accepted, key=play_strength)
    n_tracks, n_speeds = index.n_tracks, len(index.speeds)
    track, v = cand.segment % n_tracks, cand.segment // n_tracks
    k_mid = int(round((best.start_s + best.end_s) / 2 / ITEM_S))
    ref_s = (k_mid + best.diagonal) * ITEM_S * best.speed  # seconds into the track
    top, chosen = play_strength(best), found
    for step in (-1, 1):
        w, strength, walked = v + step, play_strength(best), found
        while 0 <= w < n_speeds:
            seg = w * n_tracks + track
            diagonal = int(round(ref_s / (ITEM_S * float(index.speeds[w])))) - k_mid
            # A variant the lookup has verified here already has its plays among the others, and the
            # walk towards it leads there: what the walk found on the way is dropped. The walk's own
            # verifications do not count as done: a later candidate of the lookup near them is
            # verified as without the walk (its plays may still extend this airing's edges).
            if any(abs(diagonal - d) <= params.max_drift for d in done.get(seg, [])):
                walked = found
                break
            plays = verify_candidate(
                index, query16, Candidate(seg, diagonal, 0, k_mid), params, valid, open_before, open_after
            )
            here = max((play_strength(p) for p in plays if p.ber < params.accept_ber), default=0.0)
            if here <= SPEED_STEP_GAIN * strength:
                break
            strength, w, walked = here, w + step, plays
        if walked is not found and strength > top:
            top, chosen = strength, walked
    return chosen


def resolve(plays: list[Play], params: MatchParams = DEFAULT_PARAMS) -> list[Play]:
    """Merge duplicates of one play; a weaker track overlapping a stronger one too much is cut or dropped."""
    kept: list[Play] = []
    pending = sorted(plays, key=play_strength, reverse=True)
    while pending:
        play = pending.pop(0)
        settled = False
        for other in kept:
            overlap = min(play.end_s, other.end_s) - max(play.start_s, other.start_s)
            shorter = min(play.duration_s, other.duration_s)
            if play.track == other.track:
                # Same track: the same airing seen through a neighbouring speed or diagonal.
                shift = (play.start_s - other.start_s) - (
                    play.ref_offset_s - other.ref_offset_s
                ) / other.speed
                # Each run's offset comes from its own diagonal, so they disagree by the drift over
                # the whole airing, not only over the gap between their starts.
                drift = params.merge_drift * (max(play.end_s, other.end_s) - min(play.start_s, other.start_s))
                if overlap > -params.merge_gap_s and abs(shift) < max(3.0, drift):
                    if play.ber < params.accept_ber:
                        _absorb(other, play)
                    settled = True
                    break
                if overlap > 0.5 * shorter:
                    settled = True
                    break
            elif _shadows(other, play, params):
                # What lies outside the stronger play is compared again with every kept play.
                _requeue(pending, _outside(play, other, params))
                settled = True
                break
        if not settled:
            kept.append(play)
    return _drop_shadowed(kept, params)


def _drop_shadowed(plays: list[Play], params: MatchParams) -> list[Play]:
    """Cut or drop a play that a stronger play of another track covers by more than a crossfade.

    `resolve` compares each play with the plays kept so far, but a kept play can still grow when a
    later fragment of its own track is absorbed; this final pass compares the finished plays, so a
    weak chance match inside a strong play never survives.
    """
    kept: list[Play] = []
    pending = sorted(plays, key=play_strength, reverse=True)
    while pending:
        play = pending.pop(0)
        other = next((o for o in kept if o.track != play.track and _shadows(o, play, params)), None)
        if other is None:
            kept.append(play)
        else:
            _requeue(pending, _outside(play, other, params))
    return kept


def _requeue(pending: list[Play], play: Play | None) -> None:
    """Put a cut play back among the plays still to settle, strongest first."""
    if play is not None:
        pending.append(play)
        pending.sort(key=play_strength, reverse=True)


def _outside(weaker: Play, stronger: Play, params: MatchParams) -> Play | None:
    """The longer part of `weaker` outside `stronger`, when it is a play on its own, else None.

    A weaker run of another track often reaches into a stronger play: on compressed, band-limited
    audio chance alignments along a play's diagonal stay under `seg_ber` for seconds at a time, and
    the run is bridged over them into the next play. What lies before (after) the stronger play is
    scored on its own items: it stays when it would be accepted alone (`min_play_s`, `accept_ber`,
    `min_confidence`), cut at the stronger play's edge.
    """
    if weaker.item_err is None:
        return None
    before = stronger.start_s - weaker.start_s
    after = weaker.end_s - stronger.end_s
    if max(before, after) < params.min_play_s:
        return None
    t = weaker.item_t0_s + ITEM_S * np.arange(len(weaker.item_err))
    if before >= after:
        keep = t + params.end_centre_s <= stronger.start_s
        start_s, end_s = weaker.start_s, stronger.start_s
    else:
        keep = t + params.start_centre_s >= stronger.end_s
        start_s, end_s = stronger.end_s, weaker.end_s
    if not keep.any():
        return None
    first = int(np.argmax(keep))
    err = weaker.item_err[first : first + int(keep.sum())]
    n = int(np.count_nonzero(~np.isnan(err)))
    if n * ITEM_S < params.min_play_s * 0.5:
        return None
    part = replace(
        weaker,
        start_s=start_s,
        end_s=end_s,
        ref_offset_s=weaker.track_s(start_s),
        ber=float(np.nanmean(err)),
        n_items=n,
        item_err=err,
        item_t0_s=float(t[first]),
    )
    accepted = (
        part.ber < params.accept_ber
        and part.duration_s >= params.min_play_s
        and confidence(part, params) >= params.min_confidence
    )
    return part if accepted else None


def play_strength(play: Play) -> float:
    """Which of two plays wins a conflict: more items, further below chance."""
    return play.n_items * (0.5 - play.ber)


def _shadows(stronger: Play, weaker: Play, params: MatchParams) -> bool:
    """Whether `stronger` (another track) covers `weaker` by more than a crossfade and half its length."""
    overlap = min(weaker.end_s, stronger.end_s) - max(weaker.start_s, stronger.start_s)
    return overlap > params.max_crossfade_s and overlap > 0.5 * min(weaker.duration_s, stronger.duration_s)


def _absorb(keep: Play, extra: Play) -> None:
    """Extend `keep` by the part of `extra` it does not cover; the BER is weighted by the new items."""
    added = max(0.0, keep.start_s - extra.start_s) + max(0.0, extra.end_s - keep.end_s)
    if added <= 0:
        return
    if extra.start_s < keep.start_s:
        # Never before the track's own start: a variant at a neighbouring speed snaps its start there
        # through a slightly wrong diagonal, seconds early.
        earlier = min(keep.start_s - extra.start_s, keep.ref_offset_s / keep.speed)
        keep.ref_offset_s = max(0.0, keep.ref_offset_s - earlier * keep.speed)
        keep.start_s -= earlier
    keep.end_s = max(keep.end_s, extra.end_s)
    keep.item_err, keep.item_t0_s = _join_items(keep, extra)
    new_items = int(round(added / ITEM_S))
    keep.ber = (keep.ber * keep.n_items + extra.ber * new_items) / (keep.n_items + new_items)
    keep.n_items += new_items


def _join_items(keep: Play, extra: Play) -> tuple[np.ndarray | None, float]:
    """`keep`'s item errors extended by `extra`'s where `keep` has none (NaN between them)."""
    if keep.item_err is None or extra.item_err is None:
        return None, keep.item_t0_s
    t0 = min(keep.item_t0_s, extra.item_t0_s)
    at_keep = int(round((keep.item_t0_s - t0) / ITEM_S))
    at_extra = int(round((extra.item_t0_s - t0) / ITEM_S))
    n = max(at_keep + len(keep.item_err), at_extra + len(extra.item_err))
    err = np.full(n, np.nan, dtype=np.float32)
    err[at_extra : at_extra + len(extra.item_err)] = extra.item_err
    ours = err[at_keep : at_keep + len(keep.item_err)]
    err[at_keep : at_keep + len(keep.item_err)] = np.where(np.isnan(keep.item_err), ours, keep.item_err)
    return err, t0


def evidence(ber: float, duration_s: float) -> float:
    """How far below chance the play's BER is, in units that do not depend on its length."""
    return (CHANCE_BER - ber) * math.sqrt(max(duration_s, 0.0))


def confidence(play: Play, params: MatchParams = DEFAULT_PARAMS) -> float:
    """Probability that the play is right, from a logistic fit on the evaluation set."""
    z = params.conf_a * evidence(play.ber, play.duration_s) + params.conf_c
    return float(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))))


def match_fingerprint_rows(
    index: CatalogueIndex,
    rows: list[dict],
    params: MatchParams = DEFAULT_PARAMS,
    audio: StretchAudio | None = None,
) -> list[Play]:
    """Plays in every piece of one station-hour (`fingerprints` rows with speed 1.0).

    `audio`: the recording and the catalogue files, decoded where the stored figures cannot tell
    whether a voice covers a track's intro (`talkover`), and for middling plays (`notes_check`); None:
    those intros start where the voice stops, and middling plays are judged on the fingerprints alone.
    """
    plays: list[Play] = []
    for row in rows:
        if float(row.get("speed", 1.0)) != 1.0:
            continue
        plays.extend(
            match_piece(
                index,
                np.asarray(row["fingerprint"], dtype=np.uint32),
                float(row["part_offset_s"]),
                params,
                float(row["duration_s"]) if row.get("duration_s") is not None else None,
            )
        )
    plays = extend_over_talk(
        airings(plays, audio),
        profiles_from_rows(rows),
        index.tracks["duration_s"].to_numpy(),
        spectra_from_rows(rows),
        index.heads,
        audio,
    )
    return sorted(plays, key=lambda p: p.start_s)


def match_hour(
    index: CatalogueIndex,
    hour_rows: list[dict],
    previous_rows: list[dict] | None = None,
    next_rows: list[dict] | None = None,
    params: MatchParams = DEFAULT_PARAMS,
    audio: StretchAudio | None = None,
) -> list[Play]:
    """Plays overlapping one station-hour, matched with margins of the neighbouring hours' pieces.

    `previous_rows` / `next_rows`: the neighbours' `fingerprints` rows, None where not written yet;
    `audio`: as for `match_fingerprint_rows`, over the hour's own recording.
    Times are seconds into the hour; a play across a boundary keeps its whole extent (outside 0-3600).
    """
    plays: list[Play] = []
    for piece in joined_pieces(hour_rows, previous_rows, next_rows):
        found = match_piece(
            index,
            piece.items,
            piece.offset_s,
            params,
            piece.duration_s,
            piece.valid,
            piece.open_before,
            piece.open_after,
        )
        plays.extend(found)
    profiles = [
        *profiles_from_rows(hour_rows),
        *profiles_from_rows(previous_rows, -HOUR_S),
        *profiles_from_rows(next_rows, HOUR_S),
    ]
    spectra = [
        *spectra_from_rows(hour_rows),
        *spectra_from_rows(previous_rows, -HOUR_S),
        *spectra_from_rows(next_rows, HOUR_S),
    ]
    durations = index.tracks["duration_s"].to_numpy()
    plays = extend_over_talk(airings(plays, audio), profiles, durations, spectra, index.heads, audio)
    return sorted((p for p in plays if p.end_s > 0.0 and p.start_s < HOUR_S), key=lambda p: p.start_s)
