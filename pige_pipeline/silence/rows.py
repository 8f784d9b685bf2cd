"""The `silences` table: its schema and the rows of one station-hour, from the hour's decoded audio."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from pige_pipeline.hours import HOUR, hour_start
from pige_pipeline.silence.detect import Silence, decision_columns, detect_silences
from pige_pipeline.stations import SilenceSettings

HOUR_S = HOUR.total_seconds()
# A silence this close to an hour edge touches it (one analysis frame).
EDGE_S = 0.05
# Silences in two contiguous pieces closer than this are one silence.
JOIN_GAP_S = 0.1

SILENCES_SCHEMA = pa.schema(
    [
        ("station", pa.string()),
        ("hour", pa.timestamp("us", tz="UTC")),
        ("start", pa.timestamp("us", tz="UTC")),
        ("end", pa.timestamp("us", tz="UTC")),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("duration_s", pa.float64()),
        ("level_db", pa.float64()),
        ("kind", pa.string()),
        ("threshold_db", pa.float64()),
        ("continues_from_previous_hour", pa.bool_()),
        ("continues_into_next_hour", pa.bool_()),
        # Added by the dead-air domain: the minimum duration used, and the level trend before the onset.
        ("min_seconds", pa.float64()),
        ("fade_db_per_s", pa.float64()),
        # Why it is dead air: the station's floor in this audio, steadiness, tonality, a hum's mains
        # frequency, and the sentence that puts them together (detect.Silence.why).
        ("floor_db", pa.float64()),
        ("level_sd_db", pa.float64()),
        ("spectral_change", pa.float64()),
        ("tonal_share", pa.float64()),
        ("mains_hz", pa.float64()),
        ("why", pa.string()),
    ]
)


def _join_touching(silences: list[Silence]) -> list[Silence]:
    joined: list[Silence] = []
    for s in sorted(silences, key=lambda s: s.start_s):
        if joined and s.start_s - joined[-1].end_s <= JOIN_GAP_S:
            prev = joined[-1]
            weight = prev.duration_s / max(prev.duration_s + s.duration_s, 1e-9)
            longer = prev if prev.duration_s >= s.duration_s else s
            joined[-1] = replace(
                longer,
                start_s=prev.start_s,
                end_s=max(prev.end_s, s.end_s),
                level_db=round(weight * prev.level_db + (1 - weight) * s.level_db, 2),
                fade_db_per_s=prev.fade_db_per_s,
            )
        else:
            joined.append(s)
    return joined


def silence_rows(
    pieces: list[tuple[float, np.ndarray]],
    sample_rate: int,
    hour: datetime,
    settings: SilenceSettings,
) -> list[dict[str, Any]]:
    """Rows of `silences` (every column but station/hour) for one station-hour's contiguous audio runs.

    Silences shorter than `settings.min_seconds` are dropped unless they touch the hour's start or end:
    those may be the visible part of a silence that crosses the boundary, and stitching needs them.
    """
    hour = hour_start(hour)
    found: list[Silence] = []
    for offset_s, samples in pieces:
        for s in detect_silences(
            samples, sample_rate, settings.threshold_db, settings.min_seconds, offset_s, keep_edge_runs=True
        ):
            touches_hour_edge = s.start_s <= EDGE_S or s.end_s >= HOUR_S - EDGE_S
            if s.duration_s + 1e-9 >= settings.min_seconds or touches_hour_edge:
                found.append(s)
    rows = []
    for s in _join_touching(found):
        start_s, end_s = max(0.0, s.start_s), min(HOUR_S, s.end_s)
        rows.append(
            {
                "start": hour + timedelta(seconds=start_s),
                "end": hour + timedelta(seconds=end_s),
                "start_s": round(start_s, 3),
                "end_s": round(end_s, 3),
                "duration_s": round(end_s - start_s, 3),
                "continues_from_previous_hour": start_s <= EDGE_S,
                "continues_into_next_hour": end_s >= HOUR_S - EDGE_S,
                **decision_columns(s, settings.threshold_db, settings.min_seconds),
            }
        )
    return rows
