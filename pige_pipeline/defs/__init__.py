"""Dagster definitions only: one folder per domain, each with the `definitions.py` Dagster's loader reads."""
