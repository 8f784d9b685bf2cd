"""Search what was said: DuckDB straight over the transcripts' Parquet files (no analytics file needed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pige_pipeline.hours import utc
from pige_pipeline.speech.guards import normalise

SNIPPET_CHARS = 80


@dataclass(frozen=True)
class Hit:
    station: str
    start: datetime
    end: datetime
    start_s: float
    text: str
    snippet: str


def snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> str:
    """The text around the first match, with the match in [brackets]."""
    plain = normalise(text)
    where = plain.find(normalise(query))
    if where < 0 or len(plain) != len(text):
        # Normalising changed the length (ligatures...): positions no longer line up, show the start.
        return text if len(text) <= 2 * width else text[: 2 * width] + "…"
    end = where + len(query)
    left, right = max(0, where - width), min(len(text), end + width)
    return (
        ("…" if left else "")
        + text[left:where]
        + "["
        + text[where:end]
        + "]"
        + text[end:right]
        + ("…" if right < len(text) else "")
    )


def search_transcripts(
    data_root: Path,
    query: str,
    station: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
) -> list[Hit]:
    """Kept transcript segments containing `query` (case- and accent-insensitive), oldest first."""
    if not query.strip():
        raise ValueError("empty search query: give a word or phrase to look for")
    root = data_root / "parquet" / "transcripts"
    if not any(root.glob("**/*.parquet")):
        return []
    sql = f"""
        SELECT station, start, "end", start_s, text
        FROM read_parquet('{str(root).replace("'", "''")}/**/*.parquet', hive_partitioning = false)
        WHERE NOT dropped
          AND strip_accents(lower(text)) LIKE '%' || strip_accents(lower(?)) || '%' ESCAPE '\\'
    """
    params: list[object] = [_escape_like(query.strip())]
    if station:
        sql += " AND station = ?"
        params.append(station)
    if start:
        sql += " AND start >= ?"
        params.append(utc(start))
    if end:
        sql += " AND start < ?"
        params.append(utc(end))
    sql += " ORDER BY start, station LIMIT ?"
    params.append(limit)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(sql, params).fetchall()
    return [
        Hit(
            station=s, start=utc(a), end=utc(b), start_s=float(off), text=t, snippet=snippet(t, query.strip())
        )
        for s, a, b, off, t in rows
    ]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
