"""Airplay in Dagster: the `catalogue` index, hourly `airplay_events` and `unknown_music`."""
