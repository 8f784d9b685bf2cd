"""Operations in Dagster: retention, storage health and housekeeping, with their schedules."""
