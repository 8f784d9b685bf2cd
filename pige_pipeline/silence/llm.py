"""The LLM seam: classify dead air through pige's Ollama client when one is configured.

`pige_pipeline.llm` (the speech domain's Ollama client) is optional here: without it, or without
OLLAMA_HOST, the rules decide. Any failure of the model falls back to the rules in `alerts`.
"""

from __future__ import annotations

import importlib
import json
import os
from datetime import timedelta
from typing import Any

from pige_pipeline.silence.classify import (
    Classification,
    DeadAirEvent,
    EventClassifier,
    EventContext,
    classify_rules,
)
from pige_pipeline.stations import SilenceSettings

PROMPT = """You judge dead air on a radio station. A silence was detected.
Facts: {facts}
Rule-based opinion: {rules}
Answer with JSON only:
{{"classification": "natural" or "suspect", "confidence": 0..1, "explanation": "one sentence"}}.
Natural means planned (a minute of silence, an end of programme, a pause inside a recording);
suspect means a fault."""


def event_facts(event: DeadAirEvent, ctx: EventContext) -> dict[str, Any]:
    return {
        "station": event.station,
        "start_utc": event.start.isoformat(),
        "duration_s": round(event.duration_s, 1),
        "kind": event.kind,
        "level_dbfs": event.level_db,
        "fade_before_db_per_s": event.fade_db_per_s,
        "words_before": ctx.words_before(event.start, 30.0)[-400:],
        "words_after": ctx.words_between(event.end, event.end + timedelta(seconds=30))[:400],
    }


class LLMClassifier:
    """Asks a chat model (through `chat(prompt) -> str`) and keeps the rules' verdict if it rambles."""

    def __init__(self, chat: Any, model_name: str) -> None:
        self.chat = chat
        self.model_name = model_name

    def __call__(self, event: DeadAirEvent, ctx: EventContext, settings: SilenceSettings) -> Classification:
        rules = classify_rules(event, ctx, settings)
        prompt = PROMPT.format(
            facts=json.dumps(event_facts(event, ctx)),
            rules=f"{rules.classification} ({rules.confidence}): {rules.explanation}",
        )
        answer = json.loads(self.chat(prompt))
        verdict = str(answer["classification"]).lower()
        if verdict not in ("natural", "suspect"):
            raise ValueError(f"the model answered classification {verdict!r}")
        confidence = min(1.0, max(0.0, float(answer.get("confidence", 0.5))))
        return Classification(
            verdict, confidence, str(answer.get("explanation", ""))[:500], f"llm:{self.model_name}"
        )


def llm_classifier_from_env() -> EventClassifier | None:
    """An LLM classifier when OLLAMA_HOST is set and `pige_pipeline.llm` offers a chat function."""
    if not os.environ.get("OLLAMA_HOST"):
        return None
    try:
        llm = importlib.import_module("pige_pipeline.llm")
    except ImportError:
        return None
    chat = getattr(llm, "chat_json", None) or getattr(llm, "chat", None)
    if not callable(chat):
        return None
    model = os.environ.get("PIGE_LLM_MODEL", "default")
    return LLMClassifier(chat, model)
