"""Property tests of cross-hour stitching and hour assembly: no overlap, no loss, each event once."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pige_pipeline.intervals import Event, Segment, stitch, total_covered
from pige_pipeline.store.chunks import assemble_hour

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
T0 = datetime(2026, 11, 20, 0, tzinfo=UTC)
HOUR_S = 3600.0
GAP = timedelta(seconds=1)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# Times on a millisecond grid over ~6 hours: hour boundaries and exact touches come up often.
times = st.integers(0, 6 * 3600 * 1000).map(lambda ms: ms / 1000)
keys = st.sampled_from(["alpha", "beta", ("alpha", "track-1"), ("alpha", "track-2")])


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    start = draw(st.one_of(times, st.integers(0, 6).map(lambda h: h * HOUR_S)))
    length = draw(st.one_of(st.floats(0, 900, allow_nan=False), st.integers(0, 3).map(float)))
    return Segment(draw(keys), _at(start), _at(start + length), payload=draw(st.integers(0, 10**6)))


def _union_s(spans: list[tuple[datetime, datetime]]) -> float:
    return total_covered([Event(None, s, e) for s, e in spans])


def _shape(events: list[Event]) -> list[tuple]:
    return sorted(
        (str(e.key), e.start, e.end, tuple(sorted((s.start, s.end, s.payload) for s in e.segments)))
        for e in events
    )


@FUZZ
@given(st.lists(segments(), max_size=40))
def test_stitch_partitions_segments_without_overlap(segs: list[Segment]) -> None:
    events = stitch(segs)
    # every segment is in exactly one event (by identity)
    placed = [id(s) for e in events for s in e.segments]
    assert sorted(placed) == sorted(id(s) for s in segs)
    by_key: dict = {}
    for event in events:
        assert all(s.key == event.key for s in event.segments)
        assert event.start == min(s.start for s in event.segments)
        assert event.end == max(s.end for s in event.segments)
        by_key.setdefault(event.key, []).append(event)
    for key, evs in by_key.items():
        evs.sort(key=lambda e: e.start)
        for before, after in zip(evs, evs[1:], strict=False):
            # no overlap, and nothing that should have been joined was left apart
            assert after.start - before.end > GAP, (key, before, after)
        # covered time preserved: the events cover the segments' union plus joined gaps <= 1 s each
        seg_union = _union_s([(s.start, s.end) for s in segs if s.key == key])
        ev_union = _union_s([(e.start, e.end) for e in evs])
        joins = sum(len(e.segments) - 1 for e in evs)
        assert seg_union - 1e-6 <= ev_union <= seg_union + joins * GAP.total_seconds() + 1e-6


@FUZZ
@given(st.lists(segments(), max_size=40), st.randoms(use_true_random=False))
def test_stitch_is_order_independent(segs: list[Segment], rnd: random.Random) -> None:
    shuffled = list(segs)
    rnd.shuffle(shuffled)
    assert _shape(stitch(segs)) == _shape(stitch(shuffled))


@st.composite
def separate_events(draw: st.DrawFn) -> list[tuple[str, float, float]]:
    """Whole events per key, each more than 1 s from the next: what stitching must give back."""
    out = []
    for key in draw(st.lists(st.sampled_from(["alpha", "beta", "gamma"]), unique=True, max_size=3)):
        cursor = draw(st.floats(0, 600))
        for _ in range(draw(st.integers(0, 8))):
            length = draw(st.floats(0.5, 2.5 * HOUR_S))
            out.append((key, cursor, cursor + length))
            cursor += length + draw(st.floats(1.01, 1200))
    return out


def _split_at_hours(key: str, start: float, end: float, extra_cuts: list[float]) -> list[Segment]:
    """Cut an event at every hour boundary (as the hourly assets write it) and at extra points."""
    cuts = {h * HOUR_S for h in range(int(start // HOUR_S) + 1, int(end // HOUR_S) + 1) if h * HOUR_S < end}
    cuts |= {start + f * (end - start) for f in extra_cuts}
    bounds = [start, *sorted(c for c in cuts if start < c < end), end]
    return [Segment(key, _at(a), _at(b)) for a, b in zip(bounds, bounds[1:], strict=False)]


@FUZZ
@given(
    separate_events(),
    st.lists(st.floats(0.01, 0.99), max_size=3),
    st.randoms(use_true_random=False),
)
def test_events_split_at_hour_boundaries_come_back_once(
    whole: list[tuple[str, float, float]], extra_cuts: list[float], rnd: random.Random
) -> None:
    pieces = [seg for key, a, b in whole for seg in _split_at_hours(key, a, b, extra_cuts)]
    rnd.shuffle(pieces)  # hours processed in any order
    events = stitch(pieces)
    got = sorted((e.key, e.start, e.end) for e in events)
    want = sorted((k, _at(a), _at(b)) for k, a, b in whole)
    assert got == want  # a play split at an hour boundary is counted once, with its full extent


def test_play_across_the_boundary_counts_once_even_with_a_rounding_gap() -> None:
    # The hour-10 file ends the play at 3599.98 s (frame rounding); hour 11 starts it at 0 s.
    first = Segment("alpha", _at(11 * HOUR_S - 300), _at(11 * HOUR_S - 0.02))
    second = Segment("alpha", _at(11 * HOUR_S), _at(11 * HOUR_S + 120))
    [event] = stitch([second, first])
    assert event.duration_s == 420


# --- store.assemble_hour -------------------------------------------------------------------------


@st.composite
def hour_files(draw: st.DrawFn) -> list[tuple[Path, datetime, float]]:
    hour = T0 + timedelta(hours=5)
    files = []
    for i in range(draw(st.integers(0, 12))):
        offset = draw(st.one_of(st.floats(0, HOUR_S - 0.001), st.sampled_from([0.0, 1800.0, 3599.0])))
        duration = draw(st.one_of(st.floats(0.001, 3 * HOUR_S), st.sampled_from([10.0, 3600.0, 10800.0])))
        files.append((Path(f"/chunks/{i}.mp3"), hour + timedelta(seconds=offset), duration))
    return files


@FUZZ
@given(hour_files())
def test_assemble_hour_never_overlaps_exceeds_or_loses(files: list[tuple[Path, datetime, float]]) -> None:
    hour = T0 + timedelta(hours=5)
    parts = assemble_hour(hour, files)
    spans = sorted((p.offset_s, p.offset_s + p.duration_s) for p in parts)
    for a, b in spans:
        assert 0 <= a < b <= HOUR_S + 1e-6
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 1e-6  # no second counted twice
    used = sum(p.duration_s for p in parts)
    assert used <= HOUR_S + 1e-6
    # every part reads from inside its own file
    by_path = {p: (s, d) for p, s, d in files}
    for part in parts:
        start, duration = by_path[part.path]
        assert part.skip_s >= -1e-9 and part.skip_s + part.duration_s <= duration + 1e-6
        assert abs((part.start - start).total_seconds()) < 1e-6
    # never loses covered time: only slivers of <= 10 ms per file are dropped
    want = _union_s(
        [
            (_at((s - T0).total_seconds()), _at(min((s - T0).total_seconds() + d, 6 * HOUR_S)))
            for _, s, d in files
        ]
    )
    assert used >= want - 0.01 * len(files) - 1e-6


def test_three_hour_file_in_a_one_hour_slot_uses_only_that_hour() -> None:
    hour = T0 + timedelta(hours=5)
    [part] = assemble_hour(hour, [(Path("/x.mp3"), hour, 3 * HOUR_S)])
    assert (part.offset_s, part.skip_s, part.duration_s) == (0.0, 0.0, HOUR_S)
