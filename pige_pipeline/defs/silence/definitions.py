"""Dead air in Dagster: `dead_air_alerts` (hourly) and the `notification_outbox` retry sensor."""

import dagster as dg

from pige_pipeline.defs.silence.assets import dead_air_alerts
from pige_pipeline.defs.silence.sensors import notification_outbox

defs = dg.Definitions(assets=[dead_air_alerts], sensors=[notification_outbox])
