"""The pige code location: every domain's definitions under `pige_pipeline/defs/`, merged."""

from __future__ import annotations

import importlib
import pkgutil

import dagster as dg

import pige_pipeline.defs as defs_package
from pige_pipeline.defs.resources import pige_resources


def _domain_definitions() -> list[dg.Definitions]:
    found = []
    for module in sorted(pkgutil.iter_modules(defs_package.__path__), key=lambda m: m.name):
        if not module.ispkg:
            continue
        package = importlib.import_module(f"{defs_package.__name__}.{module.name}")
        domain_defs = getattr(package, "defs", None)
        if isinstance(domain_defs, dg.Definitions):
            found.append(domain_defs)
    return found


defs = dg.Definitions.merge(
    *_domain_definitions(),
    dg.Definitions(resources=pige_resources()),
)
