"""Find a play or a dead-air alert in the analytics database, with the chunk spans it was heard in."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from pathlib import Path

import duckdb

from pige_pipeline.evidence.model import Evidence, EvidenceError, EvidenceNotFound, EvidenceUnavailable
from pige_pipeline.evidence.sources import recorded_spans

_PLAY = """
    SELECT play_id, station, start, "end", coalesce(artist || ' - ' || title, track_id),
           source_files, source_start_s, source_end_s
    FROM plays WHERE play_id = ?
"""
# A later piece of a play across hours has its own id in airplay_events: it leads to the whole play.
_PLAY_PIECE = "SELECT play_id FROM play_segments WHERE segment_play_id = ? LIMIT 1"
_ALERT = """
    SELECT alert_id, station, start, "end", severity || ' ' || classification,
           source_files, source_start_s, source_end_s
    FROM dead_air_events WHERE alert_id = ? OR list_contains(string_split(alert_ids, ','), ?)
    ORDER BY start LIMIT 1
"""


def _row(con: duckdb.DuckDBPyConnection, item_id: str) -> tuple[str, tuple] | None:
    try:
        row = con.execute(_PLAY, [item_id]).fetchone()
        if row is None:
            whole = con.execute(_PLAY_PIECE, [item_id]).fetchone()
            row = con.execute(_PLAY, [whole[0]]).fetchone() if whole else None
        if row is not None:
            return "play", row
        row = con.execute(_ALERT, [item_id, item_id]).fetchone()
    except duckdb.BinderException as exc:
        raise EvidenceError(
            f"the analytics database has no source columns ({exc}): run `pige analytics rebuild`"
        ) from None
    return ("dead_air", row) if row is not None else None


def locate(data_root: Path, item_id: str) -> Evidence:
    """The evidence of a play (play_id) or a dead-air alert (alert_id): station, UTC span, chunk spans."""
    # Imported here: the analytics build imports this package (to record sources), not the other way.
    from pige_pipeline.analytics.build import AnalyticsNotBuiltError, connect

    item_id = item_id.strip()
    try:
        con = connect(data_root)
    except AnalyticsNotBuiltError as exc:
        raise EvidenceError(str(exc)) from None
    with closing(con):
        found = _row(con, item_id)
    if found is None:
        raise EvidenceNotFound(
            f"no play or dead-air alert with id {item_id!r} in {data_root}/analytics: take the play_id "
            "or alert_id from a report's CSV, or run `pige analytics rebuild` if its hour is new"
        )
    kind, (found_id, station, start, end, label, files, start_s, end_s) = found
    return evidence_from_row(kind, found_id, station, start, end, label, files, start_s, end_s)


def evidence_from_row(
    kind: str,
    item_id: str,
    station: str,
    start: datetime,
    end: datetime,
    label: str | None,
    source_files: str | None,
    source_start_s: float | None,
    source_end_s: float | None,
) -> Evidence:
    """The evidence of a `plays` or `dead_air_events` row, from its source columns."""
    what = f"{kind.replace('_', ' ')} {item_id} of {station}"
    if source_files is None or (isinstance(source_files, float) and source_files != source_files):
        raise EvidenceUnavailable(
            f"{what}: the analytics database was built before sources were recorded: "
            "run `pige analytics rebuild`"
        )
    if not source_files:
        raise EvidenceUnavailable(
            f"{what} at {start:%Y-%m-%d %H:%M:%S}Z: no chunk file was in the store when analytics was "
            "built (audio deleted or never recorded): nothing to play"
        )
    return Evidence(
        item_id=item_id,
        kind=kind,
        station=station,
        start=start,
        end=end,
        label=label or "",
        spans=recorded_spans(source_files, source_start_s, source_end_s),
    )
