"""Stitch hourly event segments into whole events inside DuckDB, with `intervals.stitch`'s rule.

`pige_pipeline.intervals.stitch` is the rule: segments with the same key that touch or overlap (at most
`max_gap` apart) are one event, unless `joinable` refuses the join. Running it in Python over a
year of plays (6.5 million segments for 50 stations) would dominate the rebuild, so the work is split:

1. DuckDB cuts each key's segments into islands, breaking wherever a segment starts more than
   `max_gap` after every earlier segment of the key has ended. `stitch` can never join across such a
   break, so island boundaries are event boundaries, and a one-segment island is a whole event.
2. Islands of two or more segments (mostly plays across an hour boundary) are handed to
   `intervals.stitch` itself, with `joinable`, which may split them further.

tests/analytics/test_stitching.py checks the result against `intervals.stitch` on random segments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import duckdb
import pyarrow as pa

from pige_pipeline.intervals import Segment, stitch

Joinable = Callable[[Segment, Segment], bool]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def assign_events(
    con: duckdb.DuckDBPyConnection,
    source: str,
    key: Sequence[str],
    out: str,
    *,
    max_gap: timedelta = timedelta(seconds=1),
    joinable: Joinable | None = None,
    payload: str | None = None,
) -> int:
    """Create table `out`: `source` (a table with `seg_id`, key columns, `start`, `end`) plus `island`, `sub`.

    (key columns, `island`, `sub`) identifies the stitched event of each segment; every segment gets
    exactly one. A global event number would need a sort of every segment, which the callers avoid.
    `payload` names a column handed to `joinable` as `Segment.payload`. Returns the number of segments
    stitched in Python.
    """
    keys = ", ".join(_ident(k) for k in key)
    gap_us = int(max_gap / timedelta(microseconds=1))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _islands AS
        WITH ordered AS (
            SELECT seg_id, {keys}, start, "end",
                   max(epoch_us("end")) OVER (
                       PARTITION BY {keys} ORDER BY start, "end", seg_id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                   ) AS prev_end_us
            FROM {_ident(source)}
        ), flagged AS (
            SELECT *, CASE WHEN prev_end_us IS NOT NULL AND epoch_us(start) - prev_end_us <= {gap_us}
                           THEN 0 ELSE 1 END AS new_island
            FROM ordered
        )
        SELECT seg_id, {keys}, start,
               sum(new_island) OVER (
                   PARTITION BY {keys} ORDER BY start, "end", seg_id ROWS UNBOUNDED PRECEDING
               ) AS island
        FROM flagged
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _island_sizes AS
        SELECT {keys}, island, count(*) AS n FROM _islands GROUP BY ALL
        """
    )
    split = pa.table({"seg_id": pa.array([], pa.int64()), "sub": pa.array([], pa.int64())})
    in_python = 0
    if joinable is not None:
        payload_sql = f"s.{_ident(payload)}" if payload else "NULL"
        multi = con.sql(
            f"""
            SELECT s.seg_id, i.island, s.start, s."end", {payload_sql} AS payload,
                   {", ".join(f"s.{_ident(k)}" for k in key)}
            FROM _islands i
            JOIN _island_sizes z USING ({keys}, island)
            JOIN {_ident(source)} s ON s.seg_id = i.seg_id
            WHERE z.n > 1
            """
        ).to_arrow_table()
        in_python = multi.num_rows
        if in_python:
            columns = multi.to_pydict()
            key_cols = [columns[k] for k in key]
            segments = [
                Segment(
                    key=(tuple(col[i] for col in key_cols), columns["island"][i]),
                    start=columns["start"][i],
                    end=columns["end"][i],
                    payload=(columns["seg_id"][i], columns["payload"][i]),
                )
                for i in range(in_python)
            ]

            def _join(prev: Segment, nxt: Segment) -> bool:
                return joinable(
                    Segment(prev.key, prev.start, prev.end, prev.payload[1]),
                    Segment(nxt.key, nxt.start, nxt.end, nxt.payload[1]),
                )

            seg_ids: list[int] = []
            subs: list[int] = []
            sub_of_key: dict[object, int] = {}
            for event in stitch(segments, max_gap=max_gap, joinable=_join):
                sub = sub_of_key.get(event.key, 0)
                sub_of_key[event.key] = sub + 1
                for seg in event.segments:
                    seg_ids.append(seg.payload[0])
                    subs.append(sub)
            split = pa.table({"seg_id": pa.array(seg_ids, pa.int64()), "sub": pa.array(subs, pa.int64())})
    con.register("_split", split)
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {_ident(out)} AS
            SELECT s.*, i.island, coalesce(p.sub, 0) AS sub
            FROM {_ident(source)} s
            JOIN _islands i ON i.seg_id = s.seg_id
            LEFT JOIN _split p ON p.seg_id = s.seg_id
            """
        )
    finally:
        con.unregister("_split")
        con.execute("DROP TABLE IF EXISTS _islands; DROP TABLE IF EXISTS _island_sizes")
    return in_python


def play_segments_joinable(tolerance_s: float = 2.0) -> Joinable:
    """Two pieces of one play line up in the reference track (a replay restarts at the top)."""

    def _joinable(prev: Segment, nxt: Segment) -> bool:
        if prev.payload is None or nxt.payload is None:
            return True
        expected = prev.payload + (nxt.start - prev.start).total_seconds()
        return abs(nxt.payload - expected) <= tolerance_s

    return _joinable
