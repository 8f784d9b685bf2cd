"""The DuckDB stitching gives exactly the events `intervals.stitch` gives, with and without `joinable`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pige_pipeline.analytics.stitching import assign_events, play_segments_joinable
from pige_pipeline.intervals import Segment, stitch

T0 = datetime(2026, 3, 31, 23, tzinfo=UTC)

segment = st.tuples(
    st.sampled_from(["a", "b"]),  # key
    st.integers(0, 400),  # start (tenths of a second)
    st.integers(0, 60),  # length (tenths)
    st.integers(0, 40),  # reference offset (seconds)
)


def _by_stitch(rows: list[tuple[str, int, int, int]], joinable: bool) -> set[frozenset[int]]:
    segments = [
        Segment(key, T0 + timedelta(seconds=s / 10), T0 + timedelta(seconds=(s + n) / 10), (i, float(ref)))
        for i, (key, s, n, ref) in enumerate(rows)
    ]
    rule = play_segments_joinable()

    def _join(a: Segment, b: Segment) -> bool:
        return rule(
            Segment(a.key, a.start, a.end, a.payload[1]), Segment(b.key, b.start, b.end, b.payload[1])
        )

    events = stitch(segments, joinable=_join if joinable else None)
    return {frozenset(seg.payload[0] for seg in event.segments) for event in events}


def _by_duckdb(rows: list[tuple[str, int, int, int]], joinable: bool) -> set[frozenset[int]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    table = pa.table(
        {
            "seg_id": pa.array(range(len(rows)), pa.int64()),
            "k": [r[0] for r in rows],
            "start": pa.array(
                [T0 + timedelta(seconds=r[1] / 10) for r in rows], pa.timestamp("us", tz="UTC")
            ),
            "end": pa.array(
                [T0 + timedelta(seconds=(r[1] + r[2]) / 10) for r in rows], pa.timestamp("us", tz="UTC")
            ),
            "ref": pa.array([float(r[3]) for r in rows], pa.float64()),
        }
    )
    con.register("src_arrow", table)
    con.execute("CREATE TABLE src AS SELECT * FROM src_arrow")
    assign_events(
        con, "src", ["k"], "out", joinable=play_segments_joinable() if joinable else None, payload="ref"
    )
    groups: dict[int, set[int]] = {}
    for seg_id, event_no in con.execute(
        "SELECT seg_id, k || ':' || island || ':' || sub FROM out"
    ).fetchall():
        groups.setdefault(event_no, set()).add(seg_id)
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=60, deadline=None)
@given(st.lists(segment, min_size=1, max_size=25, unique_by=lambda r: (r[1], r[2])), st.booleans())
def test_duckdb_stitching_equals_intervals_stitch(
    rows: list[tuple[str, int, int, int]], joinable: bool
) -> None:
    assert _by_duckdb(rows, joinable) == _by_stitch(rows, joinable)


def test_replay_right_after_the_end_is_a_second_play() -> None:
    # Same track twice back to back: the second starts at the top of the reference, so it is not joined.
    rows = [("a", 0, 1800, 0), ("a", 1800, 1800, 0)]
    assert len(_by_duckdb(rows, True)) == 2
    assert len(_by_duckdb(rows, False)) == 1
