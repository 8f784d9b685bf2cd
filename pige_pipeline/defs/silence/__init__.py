"""Dead air in Dagster: `dead_air_alerts` (hourly) and the `notification_outbox` retry sensor."""
