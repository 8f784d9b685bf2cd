"""Airplay in Dagster: the `catalogue` index, hourly `airplay_events` and `unknown_music`."""

import dagster as dg

from pige_pipeline.defs.airplay.assets import airplay_events, catalogue, unknown_music
from pige_pipeline.defs.airplay.checks import catalogue_rows_ok

defs = dg.Definitions(assets=[catalogue, airplay_events, unknown_music], asset_checks=[catalogue_rows_ok])
