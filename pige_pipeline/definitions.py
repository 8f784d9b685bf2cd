"""The pige code location: Dagster's loader walks `pige_pipeline/defs/`, one `definitions.py` per domain."""

from __future__ import annotations

import dagster as dg

import pige_pipeline.defs as defs_package

# Each defs/<domain>/ folder holds a definitions.py, where the loader stops: the domain's helper
# modules (assets.py, sensors.py, ...) are imported by it, not collected a second time.
defs = dg.components.load_defs(defs_root=defs_package)
