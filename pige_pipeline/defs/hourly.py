"""The station-hour asset factories: run a plain function for every enabled station of one hour.

Each station's result is written to its own Parquet file. A station that fails is logged, written to
the hour's manifest and reported by the asset's check; the other stations carry on (DEVELOPERS.md).
`station_hour_multi_asset` lets one computation (one decode of the audio) feed several assets.
"""

import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
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
CHECK_NAME = "all_stations_ok"


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


@dataclass
class StationFailure:
    """One output of a multi-asset computation failed for a station; the other outputs still count."""

    message: str


ComputeFn = Callable[[StationHour, Any], Any]
MultiComputeFn = Callable[[StationHour, Any], Mapping[str, Any]]
SetupFn = Callable[[dg.AssetExecutionContext, PigeSettings, list[Station]], Any]


@dataclass
class _Outcome:
    rows: dict[str, int]
    problems: dict[str, str]
    no_audio: dict[str, str]


def _run_stations(
    context: dg.AssetExecutionContext,
    pige: PigeResource,
    schemas: Mapping[str, pa.Schema],
    compute: MultiComputeFn,
    setup: SetupFn | None,
) -> tuple[datetime, list[Station], dict[str, _Outcome], float]:
    settings = pige.settings()
    stations = pige.stations().enabled
    hour = hour_from_partition_key(context.partition_key)
    shared = setup(context, settings, stations) if setup else None
    outcomes = {name: _Outcome({}, {}, {}) for name in schemas}
    started = time.monotonic()
    for station in stations:
        try:
            outputs = compute(StationHour(station, hour, settings, context.log), shared)
        except NoAudioError as exc:
            context.log.warning(str(exc))
            for outcome in outcomes.values():
                outcome.no_audio[station.id] = str(exc)
            continue
        except Exception as exc:  # one station's failure must never stop the others
            context.log.error(
                f"station {station.id!r} failed for {context.partition_key}: {exc}\n"
                + traceback.format_exc(limit=5)
            )
            for outcome in outcomes.values():
                outcome.problems[station.id] = f"{type(exc).__name__}: {exc}"
            continue
        for name, schema in schemas.items():
            outcome = outcomes[name]
            output = outputs.get(name)
            if isinstance(output, StationFailure):
                outcome.problems[station.id] = output.message
                context.log.error(
                    f"{name}: station {station.id!r}, {context.partition_key}: {output.message}"
                )
                continue
            if output is None:
                outcome.problems[station.id] = "the computation returned nothing for this asset"
                continue
            if not isinstance(output, StationOutput):
                output = StationOutput(output)
            try:
                write_asset_hour(settings.data_root, name, station.id, hour, output.rows, schema)
            except Exception as exc:
                outcome.problems[station.id] = f"writing Parquet failed: {type(exc).__name__}: {exc}"
                context.log.error(f"{name}: station {station.id!r}: {outcome.problems[station.id]}")
                continue
            outcome.rows[station.id] = len(output.rows)
            if output.problem:
                outcome.problems[station.id] = output.problem
    return hour, stations, outcomes, time.monotonic() - started


def _result(
    context: dg.AssetExecutionContext,
    pige: PigeResource,
    name: str,
    hour: datetime,
    stations: list[Station],
    outcome: _Outcome,
    seconds: float,
    *,
    multi: bool,
) -> dg.MaterializeResult:
    settings = pige.settings()
    write_manifest(
        settings.data_root,
        name,
        hour,
        {
            "asset": name,
            "hour": hour.isoformat(),
            "run_id": context.run_id,
            "rows": outcome.rows,
            "failed": outcome.problems,
            "no_audio": outcome.no_audio,
        },
    )
    summary = pd.DataFrame(
        [
            {
                "station": s.id,
                "rows": outcome.rows.get(s.id, 0),
                "problem": outcome.problems.get(s.id) or outcome.no_audio.get(s.id, ""),
            }
            for s in stations
        ]
    )
    failed = sorted(outcome.problems)
    check = dg.AssetCheckResult(
        asset_key=name if multi else None,
        check_name=CHECK_NAME,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "all stations ok"
            if not failed
            else "failed stations: " + "; ".join(f"{sid}: {outcome.problems[sid]}" for sid in failed)
        ),
        metadata={
            "failed_stations": dg.MetadataValue.json(failed),
            "stations_without_audio": dg.MetadataValue.json(sorted(outcome.no_audio)),
        },
    )
    return dg.MaterializeResult(
        asset_key=name if multi else None,
        metadata={
            "stations": len(stations),
            "stations_failed": len(failed),
            "rows": sum(outcome.rows.values()),
            "seconds": round(seconds, 2),
            "path": dg.MetadataValue.path(str(asset_hour_path(settings.data_root, name, "{station}", hour))),
            "summary": dg.MetadataValue.md(
                summary.to_markdown(index=False) if len(summary) else "no stations"
            ),
        },
        check_results=[check],
    )


def _check_spec(name: str, description: str | None) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=CHECK_NAME,
        asset=name,
        description=description or f"Every enabled station has a usable `{name}` for the hour.",
    )


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
        check_specs=[_check_spec(name, check_description)],
    )
    def _asset(context: dg.AssetExecutionContext, pige: PigeResource) -> dg.MaterializeResult:
        hour, stations, outcomes, seconds = _run_stations(
            context, pige, {name: schema}, lambda sh, shared: {name: compute(sh, shared)}, setup
        )
        return _result(context, pige, name, hour, stations, outcomes[name], seconds, multi=False)

    return _asset


@dataclass(frozen=True)
class HourlyOutput:
    """One asset produced by a `station_hour_multi_asset`."""

    name: str
    description: str
    schema: pa.Schema
    check_description: str | None = None


def station_hour_multi_asset(
    *,
    name: str,
    outputs: Sequence[HourlyOutput],
    compute: MultiComputeFn,
    deps: Sequence[str | dg.AssetKey] = (),
    setup: SetupFn | None = None,
    group_name: str = "hourly",
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """Like `station_hour_asset`, for one computation per station that writes several assets.

    `compute` returns `{asset name: rows | StationOutput | StationFailure}`, so one output can fail for
    a station while the others are written.
    """
    schemas = {o.name: o.schema for o in outputs}

    @dg.multi_asset(
        name=name,
        partitions_def=hourly_partitions,
        group_name=group_name,
        pool=pool,
        specs=[
            dg.AssetSpec(
                o.name, description=o.description, deps=list(deps), kinds={"parquet"}, tags={HOURLY_TAG: ""}
            )
            for o in outputs
        ],
        check_specs=[_check_spec(o.name, o.check_description) for o in outputs],
    )
    def _multi(context: dg.AssetExecutionContext, pige: PigeResource) -> Iterator[dg.MaterializeResult]:
        hour, stations, outcomes, seconds = _run_stations(context, pige, schemas, compute, setup)
        for o in outputs:
            yield _result(context, pige, o.name, hour, stations, outcomes[o.name], seconds, multi=True)

    return _multi
