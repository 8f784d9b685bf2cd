"""`summaries_redo_sensor`: once Ollama answers, re-run `summaries` for hours summarised offline."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from pige_pipeline.hours import partition_key_for
from pige_pipeline.lib.resources import LLMResource, PigeResource
from pige_pipeline.llm import ollama_reachable
from pige_pipeline.speech.summarise import needs_redo
from pige_pipeline.store.parquet import read_asset_range

# Look this far back for offline rows, and launch at most this many runs per tick, so that a long
# outage is caught up gradually instead of flooding the run queue.
REDO_DAYS = int(os.environ.get("PIGE_SPEECH_REDO_DAYS", "7"))
MAX_RUNS_PER_TICK = 4


@dg.sensor(
    target=dg.AssetSelection.assets("summaries"),
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When OLLAMA_HOST is set and answers, re-runs `summaries` for hours summarised offline.",
)
def summaries_redo_sensor(
    context: dg.SensorEvaluationContext, pige: PigeResource, llm: LLMResource
) -> dg.SensorResult:
    ollama = llm.ollama_settings()
    if not ollama.enabled:
        return dg.SensorResult(skip_reason="OLLAMA_HOST is not set; offline summaries stay as they are")
    if not ollama_reachable(ollama):
        return dg.SensorResult(skip_reason=f"Ollama at {ollama.host} does not answer; will try again")
    now = datetime.now(UTC)
    rows = needs_redo(
        read_asset_range(pige.settings().data_root, "summaries", now - timedelta(days=REDO_DAYS), now)
    )
    if not len(rows):
        return dg.SensorResult(skip_reason="no offline or failed summaries to redo")
    requests = []
    for hour, group in sorted(rows.groupby("hour"), key=lambda item: item[0])[:MAX_RUNS_PER_TICK]:
        key = partition_key_for(hour.to_pydatetime())
        # The run key changes when the rows are rewritten, so a failed redo is tried again later.
        stamp = int(group["created_at"].max().timestamp())
        requests.append(dg.RunRequest(run_key=f"redo-summaries-{key}-{stamp}", partition_key=key,
                                      tags={"pige/trigger": "summaries_redo"}))  # fmt: skip
    return dg.SensorResult(run_requests=requests)
