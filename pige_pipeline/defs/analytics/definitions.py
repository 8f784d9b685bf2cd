"""Analytics in Dagster: the `analytics` DuckDB asset."""

import dagster as dg

from pige_pipeline.defs.analytics.assets import analytics

defs = dg.Definitions(assets=[analytics])
