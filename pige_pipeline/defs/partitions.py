"""Hourly UTC partitions: one run processes one hour for all stations (see DEVELOPERS.md)."""

from __future__ import annotations

import os

import dagster as dg

# Archives older than this cannot be back-filled as partitions; move it back before importing them.
PARTITIONS_START = os.environ.get("PIGE_PARTITIONS_START", "2026-01-01-00:00")

hourly_partitions = dg.HourlyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
