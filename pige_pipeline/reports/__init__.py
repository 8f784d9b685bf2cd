"""Reports: daily station log, airplay statement, dead air, coverage and statistics.

Each report reads the analytics database (`pige_pipeline.analytics.connect()`) and writes
`{data_root}/reports/{report}/...` as CSV, Parquet and one self-contained HTML page with charts.
"""
