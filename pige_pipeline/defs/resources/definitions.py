"""The resources every asset, sensor and job asks for, bound once for the code location."""

import dagster as dg

from pige_pipeline.lib.resources import pige_resources

defs = dg.Definitions(resources=pige_resources())
