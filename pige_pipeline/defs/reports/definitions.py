"""Reports in Dagster: daily and monthly report assets on cron automation, with freshness policies, and
the sensor that writes them again once the period is over for the westmost station."""

import dagster as dg

from pige_pipeline.defs.reports.assets import REPORT_ASSETS
from pige_pipeline.defs.reports.sensors import late_zone_reports

defs = dg.Definitions(assets=REPORT_ASSETS, sensors=[late_zone_reports])
