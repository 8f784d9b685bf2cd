"""The chunk store in Dagster: `audio_chunks`, the `process_hour` job and the new-chunk sensor."""

import dagster as dg

from pige_pipeline.defs.chunks.assets import audio_chunks
from pige_pipeline.defs.chunks.jobs import process_hour
from pige_pipeline.defs.chunks.sensors import new_chunks_sensor

defs = dg.Definitions(assets=[audio_chunks], jobs=[process_hour], sensors=[new_chunks_sensor])
