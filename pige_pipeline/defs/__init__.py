"""Dagster wiring, one folder per domain. Each domain package exposes `defs = dg.Definitions(...)`."""
