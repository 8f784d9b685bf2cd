"""`new_chunks_sensor`: request `process_hour` for every hour that received a completed chunk."""

import json
from datetime import UTC, datetime

import dagster as dg

from pige_pipeline.defs.resources import PigeResource
from pige_pipeline.hours import HOUR, hour_start, partition_key_for
from pige_pipeline.store import chunks_changed_since


@dg.sensor(
    job_name="process_hour",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests processing of each completed hour that received new or late chunks.",
)
def new_chunks_sensor(context: dg.SensorEvaluationContext, pige: PigeResource) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {"ctime_ns": 0}
    settings = pige.settings()
    changed = chunks_changed_since(settings.data_root, cursor["ctime_ns"])
    now = datetime.now(UTC)
    by_hour: dict[str, int] = {}
    newest = cursor["ctime_ns"]
    for chunk, ctime_ns in changed:
        hour = hour_start(chunk.start)
        if hour + HOUR > now:
            # The hour is still being recorded; the chunk is seen again once the hour is complete.
            continue
        key = partition_key_for(hour)
        by_hour[key] = max(by_hour.get(key, 0), ctime_ns)
        newest = max(newest, ctime_ns)
    # Never move the cursor past a chunk of an hour that is still open.
    open_ctimes = [c for chunk, c in changed if hour_start(chunk.start) + HOUR > now]
    if open_ctimes:
        newest = min(newest, min(open_ctimes) - 1) if newest >= min(open_ctimes) else newest
    requests = [
        # The run key carries the newest chunk time, so a late chunk for an old hour runs it again.
        dg.RunRequest(run_key=f"{key}@{ctime}", partition_key=key, tags={"pige/trigger": "new_chunks"})
        for key, ctime in sorted(by_hour.items())
    ]
    return dg.SensorResult(run_requests=requests, cursor=json.dumps({"ctime_ns": newest}))
