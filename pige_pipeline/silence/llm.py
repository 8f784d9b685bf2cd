"""LLM classification of dead air through pige's Ollama client (`pige_pipeline.llm`), when configured.

With OLLAMA_HOST unset the rules decide. The model sees the facts the rules use and the rules' own
verdict; whatever goes wrong with it (`LLMError`: unreachable, timeout, a reply off the schema) is
raised to `alerts.dead_air_alert_rows`, which falls back to the rules and says so in the explanation.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pige_pipeline.llm import OllamaSettings, chat_json
from pige_pipeline.silence.classify import Classification, DeadAirEvent, EventContext, classify_rules
from pige_pipeline.stations import SilenceSettings

SYSTEM = (
    "You judge dead air on a radio station. Natural means planned: an announced minute of silence, the "
    "end of a programme, a pause that belongs to a recording, a network join at the top of the hour. "
    "Suspect means a fault someone must fix. Answer with the JSON object asked for, nothing else."
)
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "classification": {"type": "string", "enum": ["natural", "suspect"]},
        "confidence": {"type": "number"},
        "explanation": {"type": "string"},
    },
    "required": ["classification", "confidence", "explanation"],
}


def event_facts(event: DeadAirEvent, ctx: EventContext) -> dict[str, Any]:
    """What the model is told: the silence, what was said around it, what was playing."""
    facts: dict[str, Any] = {
        "station": event.station,
        "start_utc": event.start.isoformat(),
        "duration_s": round(event.duration_s, 1),
        "kind": event.kind,
        "level_dbfs": event.level_db,
        "level_trend_before_db_per_s": event.fade_db_per_s,
        "words_before": ctx.words_before(event.start, 30.0)[-400:],
        "words_after": ctx.words_between(event.end, event.end + timedelta(seconds=30))[:400],
    }
    if ctx.airplay is not None and not ctx.airplay.empty:
        near = ctx.airplay[
            (ctx.airplay["end"] >= event.start - timedelta(seconds=60))
            & (ctx.airplay["start"] <= event.end + timedelta(seconds=60))
        ]
        facts["plays_nearby"] = [
            {"title": r.get("title"), "start_utc": str(r["start"]), "end_utc": str(r["end"])}
            for r in near.to_dict("records")
        ]
    return facts


class LLMClassifier:
    """Asks the configured Ollama model; the rules' verdict is given to it as a second opinion."""

    def __init__(self, settings: OllamaSettings) -> None:
        self.settings = settings

    def __call__(self, event: DeadAirEvent, ctx: EventContext, settings: SilenceSettings) -> Classification:
        rules = classify_rules(event, ctx, settings)
        question = {
            "silence": event_facts(event, ctx),
            "rule_based_opinion": {
                "classification": rules.classification,
                "confidence": rules.confidence,
                "explanation": rules.explanation,
            },
            "thresholds_s": {"warning": settings.warning_seconds, "critical": settings.critical_seconds},
        }
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": json.dumps(question, ensure_ascii=False)},
        ]
        answer = chat_json(messages, VERDICT_SCHEMA, self.settings)
        confidence = min(1.0, max(0.0, float(answer["confidence"])))
        return Classification(
            answer["classification"], round(confidence, 2), str(answer["explanation"])[:500],
            f"llm:{self.settings.model}",
        )  # fmt: skip


def llm_classifier_from_env() -> LLMClassifier | None:
    """An LLM classifier when OLLAMA_HOST is set, else None (the rules decide)."""
    settings = OllamaSettings.from_env()
    return LLMClassifier(settings) if settings.enabled else None
