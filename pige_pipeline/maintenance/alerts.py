"""Which dead-air alerts still protect the audio around them from retention.

An alert is open until someone closes it. It counts as closed when its `notification_status` in the
`dead_air_alerts` Parquet is `acknowledged` or `closed`, or when its `alert_id` is listed in the
acknowledgements file `{data_root}/state/alerts/acknowledged.jsonl` (one JSON object per line,
appended by `pige retention ack-alert`). Parquet rows are written once per processed hour and are not
rewritten when an operator looks at an alert; the file is where that decision is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from pige_pipeline.hours import utc
from pige_pipeline.jsonl import append_record, read_records
from pige_pipeline.store.parquet import read_asset_range

DEAD_AIR_ASSET = "dead_air_alerts"
CLOSED_STATUSES = frozenset({"acknowledged", "closed"})
# Audio this close to an open alert is kept: it is the context an operator needs to judge the alert.
ALERT_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class AlertWindow:
    """Audio of `station` in [start, end) is kept because of open alert `alert_id`."""

    station: str
    alert_id: str
    start: datetime
    end: datetime


class AlertsUnreadableError(RuntimeError):
    """The alerts of a station cannot be read; its audio is kept until they can."""


def acknowledgements_path(data_root: Path) -> Path:
    return data_root / "state" / "alerts" / "acknowledged.jsonl"


def read_acknowledged(data_root: Path) -> set[str]:
    """Alert ids closed by an operator; a line that is not valid JSON is skipped (and kept in the file)."""
    return {
        str(entry["alert_id"])
        for entry in read_records(acknowledgements_path(data_root))
        if entry.get("alert_id")
    }


def acknowledge_alert(data_root: Path, alert_id: str, by: str = "", note: str = "") -> Path:
    """Record that an operator closed `alert_id`; its audio then follows normal retention."""
    if not alert_id.strip():
        raise ValueError("alert id is empty")
    path = acknowledgements_path(data_root)
    append_record(path, {"alert_id": alert_id, "at": datetime.now(UTC).isoformat(), "by": by, "note": note})
    return path


def open_alert_windows(
    data_root: Path, station: str, start: datetime, end: datetime, acknowledged: set[str] | None = None
) -> list[AlertWindow]:
    """Protected windows (alert ± 1 h) of `station`'s open alerts that could touch [start, end)."""
    acknowledged = read_acknowledged(data_root) if acknowledged is None else acknowledged
    try:
        rows = read_asset_range(
            data_root, DEAD_AIR_ASSET, utc(start) - ALERT_MARGIN, utc(end) + ALERT_MARGIN, [station]
        )
    except Exception as exc:  # a corrupt file must keep the audio, never let it go
        raise AlertsUnreadableError(f"station {station!r}: {DEAD_AIR_ASSET} cannot be read: {exc}") from exc
    if rows.empty:
        return []
    missing = {"alert_id", "start", "end"} - set(rows.columns)
    if missing:
        raise AlertsUnreadableError(
            f"station {station!r}: {DEAD_AIR_ASSET} has no column(s) {sorted(missing)}; "
            "cannot tell which alerts are open"
        )
    status = (
        rows["notification_status"].fillna("").astype(str).str.lower()
        if "notification_status" in rows.columns
        else pd.Series([""] * len(rows), index=rows.index)
    )
    windows = []
    for (_, row), state in zip(rows.iterrows(), status, strict=True):
        alert_id = str(row["alert_id"])
        if state in CLOSED_STATUSES or alert_id in acknowledged:
            continue
        begin, finish = pd.Timestamp(row["start"]), pd.Timestamp(row["end"])
        if pd.isna(begin):
            continue
        finish = begin if pd.isna(finish) else finish
        windows.append(
            AlertWindow(
                station=station,
                alert_id=alert_id,
                start=utc(begin.to_pydatetime()) - ALERT_MARGIN,
                end=utc(finish.to_pydatetime()) + ALERT_MARGIN,
            )
        )
    return windows
