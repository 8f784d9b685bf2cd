"""`recorder_runtime_exemption`: keep run monitoring's maximum runtime away from recorder runs."""

import dagster as dg

# dagster.yaml gives every run a maximum runtime; a run tagged `dagster/max_runtime: "0"` has none.
MAX_RUNTIME_TAG = "dagster/max_runtime"
RECORDER_TAGS = {"pige/role": "recorder"}
LIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def exempt_recorder_runs(instance: dg.DagsterInstance) -> list[str]:
    """Tag live recorder runs that lack a max runtime with none; returns the run ids tagged."""
    tagged = []
    records = instance.get_run_records(filters=dg.RunsFilter(tags=RECORDER_TAGS, statuses=LIVE_STATUSES))
    for record in records:
        if MAX_RUNTIME_TAG not in record.dagster_run.tags:
            instance.add_run_tags(record.dagster_run.run_id, {MAX_RUNTIME_TAG: "0"})
            tagged.append(record.dagster_run.run_id)
    return tagged


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Exempts recorder runs (pige/role=recorder) from the maximum runtime of run monitoring.",
)
def recorder_runtime_exemption(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    # Whatever launched the recorder (its supervisor, the UI, the CLI), it must record for days.
    tagged = exempt_recorder_runs(context.instance)
    return dg.SkipReason(
        f"exempted recorder runs {', '.join(tagged)}" if tagged else "every recorder run is exempt"
    )
