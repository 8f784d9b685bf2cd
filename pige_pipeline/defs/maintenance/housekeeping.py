"""Removal of old failed runs through the Dagster instance (the rest of housekeeping is plain Python)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

DEFAULT_FAILED_RUN_DAYS = 30


def old_failed_runs(
    instance: dg.DagsterInstance, older_than: timedelta, now: datetime | None = None
) -> list[str]:
    """Ids of failed runs created more than `older_than` ago."""
    cutoff = (now or datetime.now(UTC)) - older_than
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], created_before=cutoff)
    )
    return [record.dagster_run.run_id for record in records]


def delete_runs(instance: dg.DagsterInstance, run_ids: list[str]) -> list[str]:
    """Delete runs with their event logs; returns the ids deleted."""
    deleted = []
    for run_id in run_ids:
        instance.delete_run(run_id)
        deleted.append(run_id)
    return deleted
