"""One decode per station-hour: `silences` and `fingerprints` from the same samples."""

import dagster as dg

from pige_pipeline.defs.audio.assets import audio_analysis

defs = dg.Definitions(assets=[audio_analysis])
