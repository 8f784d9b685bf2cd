"""`new_chunks_sensor`: request `process_hour` for every hour whose chunks were not processed yet.

Which hours to look at comes from the chunk store's ctimes (a cursor, so a tick lists only what
changed). Whether an hour needs work comes from the data root itself: each hourly asset's manifest
records the digest of the chunks it read (`store.hour_chunks_digest`), so a new Dagster instance, a reset
cursor or a move from SQLite to PostgreSQL finds the archive already done and requests nothing. Many
missing hours at once (an imported archive) become one backfill sized to what is missing.
"""

import json
import os
from datetime import UTC, datetime

import dagster as dg

# Not exported at the top level in 1.13: the documented way to turn partitions into a backfill request.
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey

from pige_pipeline.data_root import ensure_data_root_id
from pige_pipeline.hours import HOUR, hour_start, partition_key_for
from pige_pipeline.lib.hourly import DATA_ROOT_TAG, HOURLY_TAG
from pige_pipeline.lib.resources import PigeResource
from pige_pipeline.stations import StationsFileError
from pige_pipeline.store.chunks import (
    chunks_changed_since,
    hour_chunks,
    hour_chunks_digest,
    stations_in_store,
)
from pige_pipeline.store.parquet import read_manifest

# More missing hours than this in one tick are launched as one backfill instead of one run each.
BACKFILL_AFTER_HOURS = int(os.environ.get("PIGE_BACKFILL_AFTER_HOURS", "6"))


def _stations(pige: PigeResource, data_root) -> list[str]:
    """The stations `process_hour` will process: stations.yaml's enabled ones (the store's if unreadable)."""
    try:
        return [s.id for s in pige.stations().enabled]
    except (StationsFileError, OSError):
        return stations_in_store(data_root)


def _repository(context: dg.SensorEvaluationContext) -> dg.RepositoryDefinition:
    if context.repository_def is not None:
        return context.repository_def
    from pige_pipeline.definitions import defs  # a test's bare context

    return defs.get_repository_def()


def _hourly_assets(repo: dg.RepositoryDefinition) -> list[str]:
    return sorted(
        key.to_user_string()
        for key in repo.asset_graph.get_all_asset_keys()
        if HOURLY_TAG in repo.asset_graph.get(key).tags
    )


def hour_is_processed(data_root, hour: datetime, digest: str, assets: list[str]) -> bool:
    """Every hourly asset has a manifest for `hour` written from chunks with this digest."""
    for asset in assets:
        manifest = read_manifest(data_root, asset, hour)
        if manifest is None or manifest.get("chunks_digest") != digest:
            return False
    return True


@dg.sensor(
    job_name="process_hour",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests processing of each completed hour whose chunks were not processed yet.",
)
def new_chunks_sensor(context: dg.SensorEvaluationContext, pige: PigeResource) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {"ctime_ns": 0}
    settings = pige.settings()
    changed = chunks_changed_since(settings.data_root, cursor["ctime_ns"])
    now = datetime.now(UTC)
    hours: set[datetime] = set()
    newest = cursor["ctime_ns"]
    for chunk, ctime_ns in changed:
        hour = hour_start(chunk.start)
        if hour + HOUR > now:
            # The hour is still being recorded; the chunk is seen again once the hour is complete.
            continue
        hours.add(hour)
        newest = max(newest, ctime_ns)
    # Never move the cursor past a chunk of an hour that is still open.
    open_ctimes = [c for chunk, c in changed if hour_start(chunk.start) + HOUR > now]
    if open_ctimes:
        newest = min(newest, min(open_ctimes) - 1) if newest >= min(open_ctimes) else newest
    new_cursor = json.dumps({"ctime_ns": newest})
    if not hours:
        return dg.SensorResult(run_requests=[], cursor=new_cursor)

    stations = _stations(pige, settings.data_root)
    repo = _repository(context)
    assets = _hourly_assets(repo)
    missing: dict[datetime, str] = {}
    for hour in sorted(hours):
        digest = hour_chunks_digest(settings.data_root, hour, stations)
        if not hour_is_processed(settings.data_root, hour, digest, assets):
            missing[hour] = digest
    skipped = len(hours) - len(missing)
    if skipped:
        context.log.info(f"{skipped} hour(s) already processed from the same chunks: not requested again")
    if not missing:
        return dg.SensorResult(run_requests=[], cursor=new_cursor)
    tags = {DATA_ROOT_TAG: ensure_data_root_id(settings.data_root), "pige/trigger": "new_chunks"}
    station_hours = sum(
        1 for hour in missing for sid in stations if hour_chunks(settings.data_root, sid, hour)
    )
    if len(missing) > BACKFILL_AFTER_HOURS:
        keys = [partition_key_for(h) for h in missing]
        context.log.info(
            f"backfill of {len(missing)} hour(s) ({keys[0]} .. {keys[-1]}): {station_hours} station-hour(s) "
            f"of {len(stations)} station(s) to process"
        )
        subset = AssetGraphSubset.from_asset_partition_set(
            {AssetKeyPartitionKey(dg.AssetKey(asset), key) for asset in assets for key in keys},
            repo.asset_graph,
        )
        return dg.SensorResult(
            run_requests=[dg.RunRequest.for_asset_graph_subset(subset, tags=tags)], cursor=new_cursor
        )
    context.log.info(f"{len(missing)} hour(s), {station_hours} station-hour(s) to process")
    requests = [
        # The run key is the chunks' digest: the same chunks never run twice, a late chunk runs again.
        dg.RunRequest(
            run_key=f"{partition_key_for(h)}@{digest}", partition_key=partition_key_for(h), tags=tags
        )
        for h, digest in sorted(missing.items())
    ]
    return dg.SensorResult(run_requests=requests, cursor=new_cursor)
