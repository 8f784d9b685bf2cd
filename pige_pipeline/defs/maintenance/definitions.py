"""Operations in Dagster: retention, storage health and housekeeping, with their schedules."""

import dagster as dg

from pige_pipeline.defs.maintenance.assets import storage_health
from pige_pipeline.defs.maintenance.jobs import housekeeping_job, retention_job, storage_health_job
from pige_pipeline.defs.maintenance.schedules import (
    housekeeping_schedule,
    retention_schedule,
    storage_health_schedule,
)
from pige_pipeline.defs.maintenance.sensors import recorder_runtime_exemption

defs = dg.Definitions(
    assets=[storage_health],
    jobs=[retention_job, housekeeping_job, storage_health_job],
    schedules=[retention_schedule, housekeeping_schedule, storage_health_schedule],
    sensors=[recorder_runtime_exemption],
)
