"""The recorder in Dagster: the long-running `recorder` job and the `recorder_supervisor` sensor."""

import dagster as dg

from pige_pipeline.defs.recorder.jobs import recorder
from pige_pipeline.defs.recorder.sensors import recorder_supervisor

defs = dg.Definitions(jobs=[recorder], sensors=[recorder_supervisor])
