"""The station-hour asset factory: run a plain function for every enabled station of one hour.

Each station's result is written to its own Parquet file. A station that fails is logged, written to
the hour's manifest and reported by the asset's check; the other stations carry on (DEVELOPERS.md).
"""

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from pige_pipeline.chunks import NoAudioError
from pige_pipeline.defs.partitions import hourly_partitions
from pige_pipeline.defs.resources import PigeResource
from pige_pipeline.hours import hour_from_partition_key
from pige_pipeline.parquet_store import asset_hour_path, write_asset_hour, write_manifest
from pige_pipeline.settings import PigeSettings
from pige_pipeline.stations import Station

# Every station-hour asset carries this tag; the `process_hour` job selects them by it.
HOURLY_TAG = "pige/station_hour"


@dataclass(frozen=True)
class StationHour:
    """What a station-hour computation gets: the station, the hour and where the data lives."""

    station: Station
    hour: datetime
    settings: PigeSettings
    log: Any


@dataclass
class StationOutput:
    """Rows to write, plus a problem that should fail the check although the rows are written."""

    rows: pd.DataFrame | list[dict[str, Any]] | pa.Table
    problem: str | None = None


ComputeFn = Callable[[StationHour, Any], Any]
SetupFn = Callable[[dg.AssetExecutionContext, PigeSettings, list[Station]], Any]


def station_hour_asset(
    *,
    name: str,
    description: str,
    schema: pa.Schema,
    compute: ComputeFn,
    deps: Sequence[str | dg.AssetKey | dg.AssetsDefinition] = (),
    setup: SetupFn | None = None,
    group_name: str = "hourly",
    pool: str | None = None,
    automation_condition: dg.AutomationCondition | None = None,
    check_description: str | None = None,
) -> dg.AssetsDefinition:
    """Build an hourly asset that applies `compute` to each enabled station and writes Parquet."""
    check_name = "all_stations_ok"

    @dg.asset(
        name=name,
        description=description,
        partitions_def=hourly_partitions,
        deps=list(deps),
        group_name=group_name,
        kinds={"parquet"},
        tags={HOURLY_TAG: ""},
        pool=pool,
        automation_condition=automation_condition,
        check_specs=[
            dg.AssetCheckSpec(
                name=check_name,
                asset=name,
                description=check_description or f"Every enabled station has a usable `{name}` for the hour.",
            )
        ],
    )
    def _asset(context: dg.AssetExecutionContext, pige: PigeResource) -> dg.MaterializeResult:
        settings = pige.settings()
        stations = pige.stations().enabled
        hour = hour_from_partition_key(context.partition_key)
        shared = setup(context, settings, stations) if setup else None
        problems: dict[str, str] = {}
        no_audio: dict[str, str] = {}
        rows_written: dict[str, int] = {}
        started = time.monotonic()
        for station in stations:
            try:
                output = compute(StationHour(station, hour, settings, context.log), shared)
                if not isinstance(output, StationOutput):
                    output = StationOutput(output)
                write_asset_hour(settings.data_root, name, station.id, hour, output.rows, schema)
                rows_written[station.id] = len(output.rows)
                if output.problem:
                    problems[station.id] = output.problem
            except NoAudioError as exc:
                no_audio[station.id] = str(exc)
                context.log.warning(str(exc))
            except Exception as exc:  # one station's failure must never stop the others
                problems[station.id] = f"{type(exc).__name__}: {exc}"
                context.log.error(
                    f"{name}: station {station.id!r} failed for {context.partition_key}: {exc}\n"
                    + traceback.format_exc(limit=5)
                )
        write_manifest(
            settings.data_root,
            name,
            hour,
            {
                "asset": name,
                "hour": hour.isoformat(),
                "run_id": context.run_id,
                "rows": rows_written,
                "failed": problems,
                "no_audio": no_audio,
            },
        )
        summary = pd.DataFrame(
            [
                {
                    "station": s.id,
                    "rows": rows_written.get(s.id, 0),
                    "problem": problems.get(s.id) or no_audio.get(s.id, ""),
                }
                for s in stations
            ]
        )
        failed_list = sorted(problems)
        check = dg.AssetCheckResult(
            check_name=check_name,
            passed=not problems,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                "all stations ok"
                if not problems
                else "failed stations: " + "; ".join(f"{sid}: {problems[sid]}" for sid in failed_list)
            ),
            metadata={
                "failed_stations": dg.MetadataValue.json(failed_list),
                "stations_without_audio": dg.MetadataValue.json(sorted(no_audio)),
            },
        )
        example = asset_hour_path(settings.data_root, name, "{station}", hour)
        return dg.MaterializeResult(
            metadata={
                "stations": len(stations),
                "stations_failed": len(problems),
                "rows": sum(rows_written.values()),
                "seconds": round(time.monotonic() - started, 2),
                "path": dg.MetadataValue.path(str(example)),
                "summary": dg.MetadataValue.md(
                    summary.to_markdown(index=False) if len(summary) else "no stations"
                ),
            },
            check_results=[check],
        )

    return _asset
