"""Hourly UTC partitions: one run processes one hour for all stations (see DEVELOPERS.md)."""

from __future__ import annotations

import os

import dagster as dg

# Archives older than this cannot be back-filled as partitions; move it back before importing them.
PARTITIONS_START = os.environ.get("PIGE_PARTITIONS_START", "2026-01-01-00:00")

# 1 makes the hour still being recorded a partition too (provisional processing, as the soak does);
# by default only complete hours exist, so nothing is processed before its hour is over.
PARTITIONS_END_OFFSET = int(os.environ.get("PIGE_PARTITIONS_END_OFFSET", "0"))

hourly_partitions = dg.HourlyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone="UTC", end_offset=PARTITIONS_END_OFFSET
)
