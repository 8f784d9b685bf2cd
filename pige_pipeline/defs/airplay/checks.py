"""Checks of the airplay assets."""

import dagster as dg

from pige_pipeline.airplay.catalogue import CatalogueFileError, load_catalogue
from pige_pipeline.lib.resources import PigeResource


@dg.asset_check(
    asset="catalogue", description="Every row of catalogue.csv is valid and names a readable file."
)
def catalogue_rows_ok(pige: PigeResource) -> dg.AssetCheckResult:
    path = pige.settings().catalogue_file
    try:
        problems = [str(p) for p in load_catalogue(path).problems]
    except CatalogueFileError as exc:
        problems = [str(exc)]
    return dg.AssetCheckResult(
        passed=not problems,
        description="all rows ok"
        if not problems
        else f"{len(problems)} bad row(s): " + "; ".join(problems[:20]),
        metadata={"problems": dg.MetadataValue.json(problems)},
    )
