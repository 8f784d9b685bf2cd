"""The station-hour asset factories: one hourly asset, fanned out into one step per station batch.

Each hourly asset is a graph: `<name>_plan` splits the hour's enabled stations into batches,
`<name>_stations` runs the plain compute function for one batch (mapped, so the executor decides where
each batch runs: all cores of this machine, or Celery workers on many), and `<name>_finish` collects the
batches, writes the hour's manifest and materialises the asset once, with its check.

Each station's result is written to its own Parquet file by its station step. A station whose compute
fails is recorded (step metadata, manifest, the asset's check naming it) and the others carry on
(DEVELOPERS.md). Exceptions that say "try again" (a time-out, a lost connection) are retried by the
station step's `RetryPolicy`; a bad chunk is not. A worker lost in the middle of a step is Celery's to
redeliver (acks_late, see pige_pipeline/scale/celery_app.py).
"""

import inspect
import os
import re
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from pige_pipeline.data_root import DataRootMismatchError, check_data_root, ensure_data_root_id
from pige_pipeline.hours import hour_from_partition_key
from pige_pipeline.lib.partitions import hourly_partitions
from pige_pipeline.lib.resources import PigeResource
from pige_pipeline.scale.settings import AUDIO_QUEUE
from pige_pipeline.settings import PigeSettings
from pige_pipeline.stations import Station
from pige_pipeline.store.chunks import hour_chunks_digest
from pige_pipeline.store.hour_audio import NoAudioError
from pige_pipeline.store.parquet import asset_hour_path, write_asset_hour, write_manifest

# Every station-hour asset carries this tag; the `process_hour` job selects them by it.
HOURLY_TAG = "pige/station_hour"
CHECK_NAME = "all_stations_ok"
# dagster-celery sends a step to the queue its op names in this tag.
QUEUE_TAG = "dagster-celery/queue"
# The id of the data root the run's launcher sees (pige_pipeline/data_root.py); workers compare theirs.
DATA_ROOT_TAG = "pige/data_root_id"
STATIONS_PER_STEP_ENV = "PIGE_STATIONS_PER_STEP"
# A time-out or a dropped connection may pass; a corrupt chunk will not, so only these are retried.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError)
STATION_STEP_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)


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
SetupFn = Callable[[Any, PigeSettings, list[Station]], Any]
# Expected cost of a station's step (any unit, e.g. seconds of speech), read from earlier results.
CostFn = Callable[[PigeSettings, datetime, Station], float]


@dataclass(frozen=True)
class StationBatch:
    """What one station step processes: a few stations of the hour, and what the run expects to see."""

    stations: tuple[str, ...]
    data_root_id: str
    chunks_digest: str


@dataclass
class _Outcome:
    rows: dict[str, int] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    no_audio: dict[str, str] = field(default_factory=dict)


@dataclass
class BatchResult:
    """What a station step hands to the hour's finish step (small: counts and messages, not rows)."""

    stations: tuple[str, ...]
    outcomes: dict[str, _Outcome]
    host: str
    pid: int
    worker: str
    attempt: int
    started_at: float
    seconds: float
    chunks_digest: str


def stations_per_step() -> int:
    """Stations per station step (PIGE_STATIONS_PER_STEP, default 1)."""
    raw = os.environ.get(STATIONS_PER_STEP_ENV, "1").strip() or "1"
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"{STATIONS_PER_STEP_ENV}={raw!r}: give a whole number of stations, e.g. 1 or 10"
        ) from None
    if value < 1:
        raise ValueError(f"{STATIONS_PER_STEP_ENV}={raw!r}: must be at least 1")
    return value


def _identifier(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def _mapping_key(index: int, first_station: str) -> str:
    return f"b{index:04d}_" + _identifier(first_station)[:40]


def _require_data_root(settings: PigeSettings, expected: str, *, where: str) -> None:
    """Fail the step at once, without retries, unless this process sees the run's data root."""
    try:
        check_data_root(settings.data_root, expected, where=where)
    except DataRootMismatchError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def plan_batches(
    station_ids: Sequence[str], size: int, costs: Mapping[str, float] | None = None
) -> list[tuple[str, ...]]:
    """Split stations into batches of at most `size`, in the order their steps should be submitted.

    Without costs: the stations file's order. With costs: longest first, each station into the lightest
    batch with room, heaviest batch first. Executors start steps in submission order, and an hour ends
    with its last step: a 3-minute Whisper step started last leaves every other worker idle while it
    runs (measured: 19 % of two workers' time, docs/scale.md), started first it overlaps the short ones.
    """
    if not station_ids:
        return [()]
    count = -(-len(station_ids) // size)
    if costs is None:
        return [tuple(station_ids[i : i + size]) for i in range(0, len(station_ids), size)]
    loads = [0.0] * count
    members: list[list[str]] = [[] for _ in range(count)]
    for sid in sorted(station_ids, key=lambda s: -costs.get(s, 0.0)):
        index = min((i for i in range(count) if len(members[i]) < size), key=lambda i: loads[i])
        members[index].append(sid)
        loads[index] += costs.get(sid, 0.0)
    order = sorted(range(count), key=lambda i: -loads[i])
    return [tuple(members[i]) for i in order if members[i]]


def _plan_op(name: str, n_deps: int, cost: CostFn | None = None) -> dg.OpDefinition:
    @dg.op(
        name=f"{name}_plan",
        description=f"Split the hour's enabled stations into `{name}` station steps.",
        ins={f"after_{i}": dg.In(dg.Nothing) for i in range(n_deps)},
        out=dg.DynamicOut(StationBatch),
        tags={QUEUE_TAG: AUDIO_QUEUE},
    )
    def _plan(context: dg.OpExecutionContext, pige: PigeResource) -> Iterator[dg.DynamicOutput]:
        settings = pige.settings()
        station_ids = [s.id for s in pige.stations().enabled]
        expected = context.run.tags.get(DATA_ROOT_TAG)
        if expected:
            _require_data_root(settings, expected, where="the plan step's worker")
            root_id = expected
        else:
            # A run launched without the tag (from the UI): the stations file was just read from this
            # root, so it is the real one.
            root_id = ensure_data_root_id(settings.data_root)
        hour = hour_from_partition_key(context.partition_key)
        digest = hour_chunks_digest(settings.data_root, hour, station_ids)
        size = stations_per_step()
        costs = None
        if cost is not None:
            registry = {s.id: s for s in pige.stations().enabled}
            costs = {}
            for sid in station_ids:
                try:
                    costs[sid] = float(cost(settings, hour, registry[sid]))
                except Exception as exc:  # an estimate only orders the steps; it must not stop the hour
                    context.log.warning(f"station {sid!r}: no cost estimate ({type(exc).__name__}: {exc})")
                    costs[sid] = 0.0
        batches = plan_batches(station_ids, size, costs)
        context.log.info(
            f"{len(station_ids)} station(s) in {len(batches)} step(s) of at most {size}"
            + (", submitted by expected cost: " + ", ".join(f"{s} {costs[s]:.0f}" for b in batches for s in b)
               if costs else "")
        )  # fmt: skip
        for index, batch in enumerate(batches):
            yield dg.DynamicOutput(
                StationBatch(batch, root_id, digest),
                mapping_key=_mapping_key(index, batch[0] if batch else "none"),
            )

    return _plan


def _run_batch(
    context: dg.OpExecutionContext,
    pige: PigeResource,
    batch: StationBatch,
    schemas: Mapping[str, pa.Schema],
    compute: MultiComputeFn,
    setup: SetupFn | None,
    retry: dg.RetryPolicy,
) -> BatchResult:
    settings = pige.settings()
    _require_data_root(settings, batch.data_root_id, where="this worker")
    started_at, started = time.time(), time.monotonic()
    registry = {s.id: s for s in pige.stations().stations}
    hour = hour_from_partition_key(context.partition_key)
    outcomes = {name: _Outcome() for name in schemas}
    stations: list[Station] = []
    for station_id in batch.stations:
        if station_id in registry and registry[station_id].enabled:
            stations.append(registry[station_id])
        else:
            for outcome in outcomes.values():
                outcome.problems[station_id] = "removed or disabled in stations.yaml while the hour ran"
    last_attempt = context.retry_number >= retry.max_retries
    shared = None
    if setup and stations:
        try:
            shared = setup(context, settings, stations)
        except Exception as exc:
            if not last_attempt:
                raise  # the RetryPolicy runs the step again: a model or server may be back by then
            for station in stations:
                _record_failure(context, station, outcomes, exc)
            stations = []
    for station in stations:
        try:
            outputs = compute(StationHour(station, hour, settings, context.log), shared)
        except NoAudioError as exc:
            context.log.warning(str(exc))
            for outcome in outcomes.values():
                outcome.no_audio[station.id] = str(exc)
            continue
        except TRANSIENT_ERRORS as exc:
            if not last_attempt:
                # Stations of this batch already written are written again: the same rows, same files.
                context.log.warning(f"station {station.id!r}: {type(exc).__name__}: {exc}; retrying the step")
                raise
            _record_failure(context, station, outcomes, exc)
            continue
        except Exception as exc:  # one station's failure must never stop the others
            _record_failure(context, station, outcomes, exc)
            continue
        for name, schema in schemas.items():
            _write_output(context, settings, name, schema, station, hour, outputs.get(name), outcomes[name])
    result = BatchResult(
        stations=batch.stations,
        outcomes=outcomes,
        host=os.uname().nodename,
        pid=os.getpid(),
        # `pige worker` names itself in PIGE_WORKER_NAME; elsewhere the step's process is the worker.
        worker=os.environ.get("PIGE_WORKER_NAME", "") or f"{os.uname().nodename}:{os.getpid()}",
        attempt=context.retry_number,
        started_at=started_at,
        seconds=time.monotonic() - started,
        chunks_digest=batch.chunks_digest,
    )
    failed = sorted({sid for o in outcomes.values() for sid in o.problems})
    context.add_output_metadata(
        {
            "stations": dg.MetadataValue.json(list(batch.stations)),
            "failed_stations": dg.MetadataValue.json(failed),
            "host": result.host,
            "pid": result.pid,
            "worker": result.worker,
            "attempt": result.attempt,
            "started_at": dg.MetadataValue.timestamp(started_at),
            "seconds": round(result.seconds, 3),
        }
    )
    return result


def _record_failure(
    context: dg.OpExecutionContext, station: Station, outcomes: dict[str, _Outcome], exc: Exception
) -> None:
    context.log.error(
        f"station {station.id!r} failed for {context.partition_key}: {exc}\n" + traceback.format_exc(limit=5)
    )
    for outcome in outcomes.values():
        outcome.problems[station.id] = f"{type(exc).__name__}: {exc}"


def _write_output(
    context: dg.OpExecutionContext,
    settings: PigeSettings,
    name: str,
    schema: pa.Schema,
    station: Station,
    hour: datetime,
    output: Any,
    outcome: _Outcome,
) -> None:
    if isinstance(output, StationFailure):
        outcome.problems[station.id] = output.message
        context.log.error(f"{name}: station {station.id!r}, {context.partition_key}: {output.message}")
        return
    if output is None:
        outcome.problems[station.id] = "the computation returned nothing for this asset"
        return
    if not isinstance(output, StationOutput):
        output = StationOutput(output)
    try:
        write_asset_hour(settings.data_root, name, station.id, hour, output.rows, schema)
    except Exception as exc:
        outcome.problems[station.id] = f"writing Parquet failed: {type(exc).__name__}: {exc}"
        context.log.error(f"{name}: station {station.id!r}: {outcome.problems[station.id]}")
        return
    outcome.rows[station.id] = len(output.rows)
    if output.problem:
        outcome.problems[station.id] = output.problem


def _stations_op(
    name: str,
    queue: str,
    pool: str | None,
    schemas: Mapping[str, pa.Schema],
    compute: MultiComputeFn,
    setup: SetupFn | None,
    resources: Sequence[str],
) -> dg.OpDefinition:
    @dg.op(
        name=f"{name}_stations",
        description=f"Compute `{name}` for one batch of stations and write their Parquet files.",
        tags={QUEUE_TAG: queue},
        retry_policy=STATION_STEP_RETRY,
        pool=pool,
        # The external systems this asset uses (`setup` reads them from context.resources).
        required_resource_keys={"pige", *resources},
    )
    def _stations(context: dg.OpExecutionContext, batch: StationBatch) -> BatchResult:
        pige: PigeResource = context.resources.pige
        return _run_batch(context, pige, batch, schemas, compute, setup, STATION_STEP_RETRY)

    return _stations


def _merge(name: str, results: Sequence[BatchResult]) -> _Outcome:
    merged = _Outcome()
    for result in results:
        outcome = result.outcomes[name]
        merged.rows.update(outcome.rows)
        merged.problems.update(outcome.problems)
        merged.no_audio.update(outcome.no_audio)
    return merged


def _finish_events(
    context: dg.OpExecutionContext,
    pige: PigeResource,
    name: str,
    results: Sequence[BatchResult],
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    settings = pige.settings()
    hour = hour_from_partition_key(context.partition_key)
    outcome = _merge(name, results)
    steps = {sid: r for r in results for sid in r.stations}
    stations = sorted(steps)
    digests = sorted({r.chunks_digest for r in results})
    write_manifest(
        settings.data_root,
        name,
        hour,
        {
            "asset": name,
            "hour": hour.isoformat(),
            "run_id": context.run_id,
            "chunks_digest": digests[0] if len(digests) == 1 else None,
            "rows": outcome.rows,
            "failed": outcome.problems,
            "no_audio": outcome.no_audio,
            "steps": {
                sid: {"host": r.host, "pid": r.pid, "worker": r.worker, "attempt": r.attempt}
                for sid, r in steps.items()
            },
        },
    )
    summary = pd.DataFrame(
        [
            {
                "station": sid,
                "rows": outcome.rows.get(sid, 0),
                "problem": outcome.problems.get(sid) or outcome.no_audio.get(sid, ""),
                "host": steps[sid].host,
                "pid": steps[sid].pid,
                "worker": steps[sid].worker,
                "step_s": round(steps[sid].seconds, 2),
            }
            for sid in stations
        ]
    )
    failed = sorted(outcome.problems)
    step_seconds = [r.seconds for r in results]
    yield dg.Output(
        None,
        output_name=name,
        metadata={
            "stations": len(stations),
            "stations_failed": len(failed),
            "rows": sum(outcome.rows.values()),
            "station_steps": len(results),
            # Sum of the station steps' own time: with parallel steps it exceeds the run's wall time.
            "seconds": round(sum(step_seconds), 2),
            "workers": dg.MetadataValue.json(sorted({r.worker for r in results})),
            "path": dg.MetadataValue.path(str(asset_hour_path(settings.data_root, name, "{station}", hour))),
            "summary": dg.MetadataValue.md(
                summary.to_markdown(index=False) if len(summary) else "no stations"
            ),
        },
    )
    yield dg.AssetCheckResult(
        asset_key=name,
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


def _finish_op(name: str, output_names: Sequence[str]) -> dg.OpDefinition:
    outs: dict[str, dg.Out] = {}
    for output in output_names:
        outs[output] = dg.Out(dg.Nothing)
        outs[f"{output}_check"] = dg.Out()

    @dg.op(
        name=f"{name}_finish",
        description=f"Collect the station steps: write the hour's manifest, materialise and check `{name}`.",
        out=outs,
        tags={QUEUE_TAG: AUDIO_QUEUE},
    )
    def _finish(
        context: dg.OpExecutionContext, pige: PigeResource, results: list[BatchResult]
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        for output in output_names:
            yield from _finish_events(context, pige, output, results)

    return _finish


def _check_spec(name: str, description: str | None) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=CHECK_NAME,
        asset=name,
        description=description or f"Every enabled station has a usable `{name}` for the hour.",
    )


@dataclass(frozen=True)
class HourlyOutput:
    """One asset produced by a `station_hour_multi_asset`."""

    name: str
    description: str
    schema: pa.Schema
    check_description: str | None = None


def _dep_key(dep: str | dg.AssetKey | dg.AssetsDefinition) -> dg.AssetKey:
    if isinstance(dep, dg.AssetsDefinition):
        return dep.key
    return dg.AssetKey.from_coercible(dep)


def station_hour_multi_asset(
    *,
    name: str,
    outputs: Sequence[HourlyOutput],
    compute: MultiComputeFn,
    deps: Sequence[str | dg.AssetKey | dg.AssetsDefinition] = (),
    setup: SetupFn | None = None,
    resources: Sequence[str] = (),
    group_name: str = "hourly",
    pool: str | None = None,
    queue: str = AUDIO_QUEUE,
    automation_condition: dg.AutomationCondition | None = None,
    cost: CostFn | None = None,
) -> dg.AssetsDefinition:
    """Hourly assets computed together for each station: one compute call per station feeds them all.

    `compute` returns `{asset name: rows | StationOutput | StationFailure}`, so one output can fail for
    a station while the others are written. `setup` builds what the station steps share (a model, a
    client) from the resources named in `resources`. `queue` is the Celery queue of the station steps
    (`audio` or `speech`); `pool` limits how many of them run at once across the instance. `cost`
    estimates each station's step from earlier results, so that the longest steps start first.
    """
    schemas = {o.name: o.schema for o in outputs}
    dep_keys = [_dep_key(d) for d in deps]
    dep_args = [f"dep_{_identifier(k.to_user_string())}" for k in dep_keys]
    plan = _plan_op(name, len(dep_keys), cost)
    stations_op = _stations_op(name, queue, pool, schemas, compute, setup, resources)
    finish = _finish_op(name, [o.name for o in outputs])
    check_specs = [_check_spec(o.name, o.check_description) for o in outputs]

    def compose(**upstream: Any) -> dict[str, Any]:
        batches = plan(**{f"after_{i}": upstream[arg] for i, arg in enumerate(dep_args)})
        finished = finish(batches.map(stations_op).collect())
        wired: dict[str, Any] = {}
        for output, spec in zip(outputs, check_specs, strict=True):
            wired[output.name] = getattr(finished, output.name)
            wired[spec.get_python_identifier()] = getattr(finished, f"{output.name}_check")
        return wired

    # graph_multi_asset reads the upstream assets from the function's parameters.
    compose.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(arg, inspect.Parameter.POSITIONAL_OR_KEYWORD) for arg in dep_args]
    )
    compose.__name__ = name

    return dg.graph_multi_asset(
        name=name,
        outs={
            o.name: dg.AssetOut(
                description=o.description,
                kinds={"parquet"},
                tags={HOURLY_TAG: ""},
                automation_condition=automation_condition,
            )
            for o in outputs
        },
        ins={
            arg: dg.AssetIn(key=key, dagster_type=dg.Nothing)
            for arg, key in zip(dep_args, dep_keys, strict=True)
        },
        partitions_def=hourly_partitions,
        group_name=group_name,
        check_specs=check_specs,
    )(compose)


def station_hour_asset(
    *,
    name: str,
    description: str,
    schema: pa.Schema,
    compute: ComputeFn,
    deps: Sequence[str | dg.AssetKey | dg.AssetsDefinition] = (),
    setup: SetupFn | None = None,
    resources: Sequence[str] = (),
    group_name: str = "hourly",
    pool: str | None = None,
    queue: str = AUDIO_QUEUE,
    automation_condition: dg.AutomationCondition | None = None,
    check_description: str | None = None,
) -> dg.AssetsDefinition:
    """One hourly asset that applies `compute` to each enabled station and writes its Parquet."""
    return station_hour_multi_asset(
        name=name,
        outputs=[HourlyOutput(name, description, schema, check_description)],
        compute=lambda sh, shared: {name: compute(sh, shared)},
        deps=deps,
        setup=setup,
        resources=resources,
        group_name=group_name,
        pool=pool,
        queue=queue,
        automation_condition=automation_condition,
    )
