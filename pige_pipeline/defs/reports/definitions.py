"""Reports in Dagster: daily and monthly report assets on cron automation, with freshness policies."""

import dagster as dg

from pige_pipeline.defs.reports.assets import REPORT_ASSETS

defs = dg.Definitions(assets=REPORT_ASSETS)
