"""The DuckDB stitching gives exactly the events `intervals.stitch` gives, with and without `joinable`,
with and without the SQL form of the join rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pige_pipeline.analytics.stitching import (
    assign_events,
    drop_events,
    play_segments_joinable,
    play_segments_surely_joinable_sql,
)
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


def _by_duckdb(
    rows: list[tuple[str, int, int, int]], joinable: bool, surely: bool = True
) -> tuple[set[frozenset[int]], int]:
    """The events as sets of segment numbers, and how many segments went through Python."""
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
    in_python = assign_events(
        con,
        "src",
        ["k"],
        "out",
        joinable=play_segments_joinable() if joinable else None,
        payload="ref",
        surely_joinable_sql=play_segments_surely_joinable_sql() if surely else None,
        tiebreak=["seg_id"],
    )
    groups: dict[str, set[int]] = {}
    lone: set[int] = set()
    for seg_id, event_no, alone in con.execute(
        "SELECT seg_id, k || ':' || island || ':' || sub, alone FROM out"
    ).fetchall():
        groups.setdefault(event_no, set()).add(seg_id)
        if alone:
            lone.add(seg_id)
    # A segment marked alone is an event by itself.
    assert all(groups[e] == {s} for e, g in groups.items() for s in g if s in lone)
    assert sum(len(g) for g in groups.values()) == len(rows)
    drop_events(con, "out")
    assert not con.execute("SELECT * FROM duckdb_tables() WHERE temporary").fetchall()
    return {frozenset(g) for g in groups.values()}, in_python


@settings(max_examples=80, deadline=None)
@given(
    st.lists(segment, min_size=1, max_size=25, unique_by=lambda r: (r[1], r[2])),
    st.booleans(),
    st.booleans(),
)
def test_duckdb_stitching_equals_intervals_stitch(
    rows: list[tuple[str, int, int, int]], joinable: bool, surely: bool
) -> None:
    assert _by_duckdb(rows, joinable, surely)[0] == _by_stitch(rows, joinable)


def test_replay_right_after_the_end_is_a_second_play() -> None:
    # Same track twice back to back: the second starts at the top of the reference, so it is not joined.
    rows = [("a", 0, 1800, 0), ("a", 1800, 1800, 0)]
    assert len(_by_duckdb(rows, True)[0]) == 2
    assert len(_by_duckdb(rows, False)[0]) == 1


def test_only_islands_the_sql_rule_cannot_clear_go_to_python() -> None:
    # A play across an hour boundary (offsets line up), a lone play, and a replay right after the end.
    across = [("a", 0, 300, 0), ("a", 300, 200, 30)]
    lone = [("b", 0, 100, 0)]
    replay = [("c", 0, 300, 0), ("c", 300, 300, 0)]
    events, in_python = _by_duckdb(across + lone + replay, True)
    assert events == {frozenset({0, 1}), frozenset({2}), frozenset({3}), frozenset({4})}
    assert in_python == 2  # the replay's island only
    assert _by_duckdb(across + lone, True)[1] == 0
    # Without the SQL rule every island of several segments is checked in Python.
    assert _by_duckdb(across + lone + replay, True, surely=False)[1] == 4


def test_the_sql_rule_never_clears_a_join_python_refuses() -> None:
    # Offsets exactly at the tolerance: Python joins (<= 2 s), the SQL rule leaves it to Python.
    rows = [("a", 0, 100, 0), ("a", 100, 100, 12)]  # expected 10 s into the reference, 12 s found
    events, in_python = _by_duckdb(rows, True)
    assert events == _by_stitch(rows, True) == {frozenset({0, 1})}
    assert in_python == 2
    rows = [("a", 0, 100, 0), ("a", 100, 100, 13)]  # 3 s off: two plays
    assert _by_duckdb(rows, True)[0] == _by_stitch(rows, True) == {frozenset({0}), frozenset({1})}
