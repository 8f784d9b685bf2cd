"""Speech in Dagster: timeline and transcripts, summaries, mentions, and the offline-summary redo sensor."""

import dagster as dg

from pige_pipeline.defs.speech.assets import mentions, speech, summaries
from pige_pipeline.defs.speech.sensors import summaries_redo_sensor

defs = dg.Definitions(assets=[speech, summaries, mentions], sensors=[summaries_redo_sensor])
