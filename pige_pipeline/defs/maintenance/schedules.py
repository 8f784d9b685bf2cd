"""Operations schedules: retention daily at 03:00 UTC, housekeeping at 04:00, storage every 30 min."""

from __future__ import annotations

import dagster as dg

from pige_pipeline.defs.maintenance.jobs import housekeeping_job, retention_job, storage_health_job

retention_schedule = dg.ScheduleDefinition(
    name="retention_daily",
    job=retention_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Deletes expired audio every night (stations.yaml retention_days; holds and alerts kept).",
)

housekeeping_schedule = dg.ScheduleDefinition(
    name="housekeeping_daily",
    job=housekeeping_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Deletes failed runs older than 30 days and stale temporary files every night.",
)

storage_health_schedule = dg.ScheduleDefinition(
    name="storage_health_every_30_min",
    job=storage_health_job,
    cron_schedule="*/30 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Checks free space and predicts when the disk is full, every 30 minutes.",
)
