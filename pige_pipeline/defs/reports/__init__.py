"""Reports in Dagster: daily and monthly report assets on cron automation, with freshness policies."""
