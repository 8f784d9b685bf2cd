"""Analytics in Dagster: the `analytics` DuckDB asset."""
