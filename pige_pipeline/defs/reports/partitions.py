"""Report partitions: one per day for daily reports, one per month for the monthly statement.

A partition names a calendar day or month; each station's report covers its own day or month (its
stations.yaml timezone; UTC with the assets' `utc` config), so "2026-04-01" is each station's 1 April.

A report period is a partition, so re-running a day after a late hour is one click (or one
back-fill), and the UI shows which days and months exist; 365 partitions a year stay far below
Dagster's guidance, unlike the station x hour product the hourly assets avoid.
"""

import dagster as dg

from pige_pipeline.lib.partitions import PARTITIONS_START

daily_report_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START[:10], timezone="UTC")
monthly_report_partitions = dg.MonthlyPartitionsDefinition(
    start_date=PARTITIONS_START[:8] + "01", timezone="UTC"
)
