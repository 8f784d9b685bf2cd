"""`process_hour`: every station-hour asset, for one hour and all stations, in one run."""

import dagster as dg

from pige_pipeline.lib.hourly import HOURLY_TAG
from pige_pipeline.lib.partitions import hourly_partitions

process_hour = dg.define_asset_job(
    name="process_hour",
    selection=dg.AssetSelection.tag(HOURLY_TAG, ""),
    partitions_def=hourly_partitions,
    description="Process one UTC hour of audio for every station.",
    # dagster.yaml limits runs by this tag, so recorder runs never hold the slots processing needs.
    tags={"pige/role": "processing"},
)
