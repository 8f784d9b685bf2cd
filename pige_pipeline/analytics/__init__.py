"""Analytics: the DuckDB database analysts and reports read, derived from the Parquet assets.

from pige_pipeline.analytics import connect
con = connect()  # read-only, PIGE_DATA_ROOT's analytics/analytics.duckdb
"""

from pige_pipeline.analytics.build import (
    AnalyticsNotBuiltError,
    RebuildResult,
    build_info,
    connect,
    db_path,
    rebuild,
)

__all__ = ["AnalyticsNotBuiltError", "RebuildResult", "build_info", "connect", "db_path", "rebuild"]
