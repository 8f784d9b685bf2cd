"""The recorder in Dagster: the long-running `recorder` job and the `recorder_supervisor` sensor."""
