"""Re-do, with the LLM, the hours that were summarised offline (or whose LLM attempt failed).

Summaries are written offline whenever OLLAMA_HOST is unset or the server is down at run time, so that
no hour waits. Once the server is back, `redo_summaries` finds rows with `engine=offline` or
`status=failed` and asks the LLM again. A successful reply replaces the row; a failed one never
replaces a usable offline summary. The Dagster sensor `summaries_redo_sensor` does the same by
requesting `summaries` runs; `pige speech resummarise` does it from the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from pige_pipeline.llm import LLMError, OllamaSettings, ollama_reachable
from pige_pipeline.settings import PigeSettings
from pige_pipeline.speech.hour import summary_for_hour
from pige_pipeline.speech.schemas import SUMMARIES_SCHEMA
from pige_pipeline.speech.summarise import redo_keys
from pige_pipeline.stations import StationsFile
from pige_pipeline.store.parquet import read_asset_range, write_asset_hour


@dataclass(frozen=True)
class Redone:
    station: str
    hour: datetime
    status: str  # replaced / kept_offline / failed
    detail: str


def pending_redo(settings: PigeSettings, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    """(station, hour) in [start, end) whose summary was written offline or failed."""
    summaries = read_asset_range(settings.data_root, "summaries", start, end)
    return list(redo_keys(summaries)) if len(summaries) else []


def redo_summaries(
    settings: PigeSettings,
    stations: StationsFile,
    start: datetime,
    end: datetime,
    llm: OllamaSettings,
    station: str | None = None,
) -> list[Redone]:
    """Ask the LLM again for every pending hour; raises `LLMError` if the server is not reachable."""
    if not ollama_reachable(llm):
        raise LLMError(f"Ollama is not reachable at {llm.host or '(OLLAMA_HOST unset)'}", "unreachable")
    known = {s.id: s for s in stations.stations}
    done: list[Redone] = []
    for sid, hour in pending_redo(settings, start, end):
        if (station and sid != station) or sid not in known:
            continue
        row = summary_for_hour(settings.data_root, known[sid], hour, llm)
        previous = pd.DataFrame()
        if row["status"] != "ok":
            previous = read_asset_range(
                settings.data_root, "summaries", hour, hour + pd.Timedelta(hours=1), [sid]
            )
            if len(previous) and (previous["status"] == "ok").all():
                done.append(Redone(sid, hour, "kept_offline", row["error"] or ""))
                continue
        write_asset_hour(settings.data_root, "summaries", sid, hour, [row], SUMMARIES_SCHEMA)
        done.append(Redone(sid, hour, "replaced" if row["status"] == "ok" else "failed", row["error"] or ""))
    return done
