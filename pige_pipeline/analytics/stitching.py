"""Stitch hourly event segments into whole events inside DuckDB, with `intervals.stitch`'s rule.

`pige_pipeline.intervals.stitch` is the rule: segments with the same key that touch or overlap (at most
`max_gap` apart) are one event, unless `joinable` refuses the join. Running it in Python over a
year of plays (6.9 million pieces for 50 stations) would dominate the rebuild, so the work is split:

1. One DuckDB window pass over each key's segments, in `stitch`'s order (start, end), finds the
   islands: a segment starting more than `max_gap` after every earlier segment of its key has ended
   starts an island. `stitch` can never join across such a break, so island boundaries are event
   boundaries. A segment whose island holds nothing else is `alone`: a whole event by itself (95% of
   the benchmark year's plays), which needs no grouping at all.
2. Inside islands of two or more segments, `stitch` joins each segment to the one before it in that
   order (the last segment of the current event), so `joinable` only ever sees neighbours. Where the
   SQL form of the rule says every neighbour joins surely, the island is one event.
3. The few islands left (a neighbour the SQL rule does not clear, such as a replay right after the
   end) are handed to `intervals.stitch` itself, with `joinable`, which may split them.

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
    surely_joinable_sql: str | None = None,
    tiebreak: Sequence[str] = (),
) -> int:
    """Create temp view `out`: the rows of `source` (with key columns, `start`, `end`) plus event columns.

    (key columns, `island`, `sub`) identifies the stitched event of each row; `island` is the start of
    the island's first segment. `alone` rows are whole events by themselves (`island` = `start`,
    `sub` = 0). `payload` names a column handed to `joinable` as `Segment.payload`.
    `surely_joinable_sql` is a SQL condition over `{prev_start}`, `{prev_payload}`, `{start}` and
    `{payload}` (format fields) that must imply `joinable`: neighbours it does not clear go to Python,
    and without it every island of several segments does. `tiebreak` orders segments with the same
    start and end.
    Returns the number of segments stitched in Python. Drop the temp objects with `drop_events(out)`.
    """
    keys = ", ".join(_ident(k) for k in key)
    order = ", ".join(["start", '"end"', *(_ident(c) for c in tiebreak)])
    window = f"PARTITION BY {keys} ORDER BY {order}"
    gap_us = int(max_gap / timedelta(microseconds=1))
    pass1, multi = _ident(f"_{out}_pass1"), _ident(f"_{out}_multi")
    if joinable is None:
        neighbours, unsure = "", "false"
    else:
        payload_sql = _ident(payload) if payload else "NULL"
        neighbours = (
            f", lag(start) OVER w AS _prev_start, lag({payload_sql}) OVER w AS _prev_payload, "
            f"{payload_sql} AS _payload"
        )
        surely = "false"
        if surely_joinable_sql:
            surely = surely_joinable_sql.format(
                prev_start="_prev_start", prev_payload="_prev_payload", start="start", payload="_payload"
            )
        unsure = f"NOT _island_start AND NOT coalesce({surely}, false)"
    # One sort of every segment: the running end of the earlier segments and the next start are
    # enough to tell island starts and lone segments apart.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {pass1} AS
        SELECT *, _island_start AND (
                   _next_start_us IS NULL
                   OR _next_start_us - greatest(_prev_end_us, epoch_us("end")) > {gap_us}
               ) AS _alone,
               {unsure} AS _unsure
        FROM (
            SELECT *, _prev_end_us IS NULL OR epoch_us(start) - _prev_end_us > {gap_us} AS _island_start
            FROM (
                SELECT s.*,
                       max(epoch_us("end")) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                           AS _prev_end_us,
                       lead(epoch_us(start)) OVER w AS _next_start_us
                       {neighbours}
                FROM {_ident(source)} s
                WINDOW w AS ({window})
            )
        )
        """
    )
    helpers = "_prev_end_us, _next_start_us, _island_start, _alone, _unsure" + (
        ", _prev_start, _prev_payload, _payload" if joinable is not None else ""
    )
    # Island starts are strictly increasing within a key, so the latest one is the running maximum.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {multi} AS
        SELECT *, max(CASE WHEN _island_start THEN start END) OVER (
                      {window} ROWS UNBOUNDED PRECEDING) AS island
        FROM {pass1} WHERE NOT _alone
        """
    )
    in_python = 0
    split = pa.table({"_row": pa.array([], pa.int64()), "sub": pa.array([], pa.int64())})
    if joinable is not None:
        rows = con.sql(
            f"""
            SELECT m.rowid AS _row, {keys}, island, start, "end", _payload
            FROM {multi} m SEMI JOIN (SELECT DISTINCT {keys}, island FROM {multi} WHERE _unsure) u
                USING ({keys}, island)
            ORDER BY {keys}, island, {order}
            """
        ).to_arrow_table()
        in_python = rows.num_rows
        if in_python:
            split = _stitch_in_python(rows.to_pydict(), key, max_gap, joinable)
    con.register("_split", split)
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {_ident(f"_{out}_events")} AS
            SELECT m.* EXCLUDE ({helpers}), coalesce(p.sub, 0) AS sub, false AS alone
            FROM {multi} m LEFT JOIN _split p ON p._row = m.rowid
            """
        )
    finally:
        con.unregister("_split")
    con.execute(f"DROP TABLE {multi}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {_ident(out)} AS
        SELECT * EXCLUDE ({helpers}), start AS island, 0::BIGINT AS sub, true AS alone
        FROM {pass1} WHERE _alone
        UNION ALL BY NAME
        SELECT * FROM {_ident(f"_{out}_events")}
        """
    )
    return in_python


def drop_events(con: duckdb.DuckDBPyConnection, out: str) -> None:
    """Drop the temp view `assign_events` created and the tables behind it."""
    con.execute(f"DROP VIEW IF EXISTS {_ident(out)}")
    for table in (f"_{out}_pass1", f"_{out}_events"):
        con.execute(f"DROP TABLE IF EXISTS {_ident(table)}")


def _stitch_in_python(
    columns: dict[str, list], key: Sequence[str], max_gap: timedelta, joinable: Joinable
) -> pa.Table:
    """`intervals.stitch` over the islands in `columns`; returns (`_row`, `sub`) for each segment."""
    key_cols = [columns[k] for k in key]
    segments = [
        Segment(
            key=(tuple(col[i] for col in key_cols), columns["island"][i]),
            start=columns["start"][i],
            end=columns["end"][i],
            payload=(columns["_row"][i], columns["_payload"][i]),
        )
        for i in range(len(columns["_row"]))
    ]

    def _join(prev: Segment, nxt: Segment) -> bool:
        return joinable(
            Segment(prev.key, prev.start, prev.end, prev.payload[1]),
            Segment(nxt.key, nxt.start, nxt.end, nxt.payload[1]),
        )

    rows: list[int] = []
    subs: list[int] = []
    sub_of_key: dict[object, int] = {}
    # `stitch` sorts stably by (start, end): segments come in SQL's order, so ties break the same way.
    for event in stitch(segments, max_gap=max_gap, joinable=_join):
        sub = sub_of_key.get(event.key, 0)
        sub_of_key[event.key] = sub + 1
        for seg in event.segments:
            rows.append(seg.payload[0])
            subs.append(sub)
    return pa.table({"_row": pa.array(rows, pa.int64()), "sub": pa.array(subs, pa.int64())})


def play_segments_joinable(tolerance_s: float = 2.0) -> Joinable:
    """Two pieces of one play line up in the reference track (a replay restarts at the top)."""

    def _joinable(prev: Segment, nxt: Segment) -> bool:
        if prev.payload is None or nxt.payload is None:
            return True
        expected = prev.payload + (nxt.start - prev.start).total_seconds()
        return abs(nxt.payload - expected) <= tolerance_s

    return _joinable


def play_segments_surely_joinable_sql(tolerance_s: float = 2.0) -> str:
    """`play_segments_joinable` in SQL, with a microsecond of margin so float rounding never decides."""
    return (
        "({prev_payload} IS NULL OR {payload} IS NULL OR abs({payload} - ({prev_payload} + "
        f"(epoch_us({{start}}) - epoch_us({{prev_start}})) / 1e6)) <= {tolerance_s - 1e-6!r})"
    )
