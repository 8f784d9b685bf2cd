"""One summary per station-hour: a few sentences, keywords and topics, from the kept transcript.

With OLLAMA_HOST set, the LLM writes them (structured output against `SUMMARY_SCHEMA`); otherwise an
offline extractive summariser picks the transcript's most representative sentences and yake extracts
keywords. Every row names its engine and model. An LLM failure is a `status=failed` row, never an
exception. `needs_redo` finds rows written offline or failed, so they can be redone with the LLM later.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import pandas as pd
import yake

from pige_pipeline.llm import LLMError, OllamaSettings, chat_json
from pige_pipeline.speech.guards import normalise

OFFLINE_MODEL = f"extractive+yake-{version('yake')}"
SUMMARY_SENTENCES = 3
MAX_SUMMARY_CHARS = 600
KEYWORDS = 10
TOPICS = 3
# Enough for an hour of talk (~9,000 words) in most model contexts; the tail is cut, and the prompt says so.
MAX_PROMPT_CHARS = 24_000

SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "description": "Two to four sentences: what was said this hour."},
        "keywords": {"type": "array", "items": {"type": "string"}, "description": "Up to 10 keywords."},
        "topics": {"type": "array", "items": {"type": "string"}, "description": "Up to 5 broad topics."},
    },
    "required": ["summary", "keywords", "topics"],
}

SYSTEM_PROMPT = (
    "You summarise one hour of a radio station's speech transcript for a broadcast-monitoring team. "
    "The transcript is automatic and may contain recognition errors. Reply with JSON only: a short "
    "factual summary (2-4 sentences) in the transcript's language, up to 10 keywords (names, brands, "
    "places, subjects actually said) and up to 5 broad topics (e.g. news, weather, sport, advertising, "
    "politics, music presentation). Do not invent anything that is not in the transcript."
)


def kept_text(transcript: pd.DataFrame | None) -> tuple[str, int]:
    """The hour's trusted transcript text (dropped segments left out) and its segment count."""
    if transcript is None or not len(transcript):
        return "", 0
    kept = transcript[~transcript["dropped"].astype(bool)].sort_values("start_s")
    texts = [t.strip() for t in kept["text"].astype(str) if t.strip()]
    return " ".join(texts), len(texts)


def keywords(text: str, language: str | None, top: int = KEYWORDS, ngram: int = 2) -> list[str]:
    """yake keywords, most relevant first, without case or accent duplicates."""
    if not text.strip():
        return []
    extractor = yake.KeywordExtractor(lan=language or "en", n=ngram, top=top * 2, dedup_lim=0.7)
    seen: set[str] = set()
    found: list[str] = []
    for word, _score in extractor.extract_keywords(text):
        key = normalise(word)
        if key in seen or len(key) < 3 or key.isdigit():
            continue
        seen.add(key)
        found.append(word.lower())
        if len(found) == top:
            break
    return found


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?…])\s+", text.strip())
    return [p.strip() for p in parts if len(re.findall(r"\w+", p)) >= 3]


def extractive_summary(text: str, language: str | None, limit: int = SUMMARY_SENTENCES) -> str:
    """The `limit` sentences that carry most of the hour's keywords, in broadcast order."""
    candidates = list(dict.fromkeys(sentences(text)))  # radio repeats itself; say each thing once
    if not candidates:
        return text[:MAX_SUMMARY_CHARS]
    weights = {
        normalise(k): 1.0 / (rank + 1) for rank, k in enumerate(keywords(text, language, top=20, ngram=1))
    }

    def score(sentence: str) -> float:
        words = re.findall(r"\w+", normalise(sentence))
        return sum(weights.get(w, 0.0) for w in set(words)) / math.sqrt(max(len(words), 1))

    best = sorted(range(len(candidates)), key=lambda i: -score(candidates[i]))[:limit]
    chosen = [candidates[i] for i in sorted(best)]
    summary = " ".join(chosen)
    return summary if len(summary) <= MAX_SUMMARY_CHARS else summary[: MAX_SUMMARY_CHARS - 1].rstrip() + "…"


def offline_summary(text: str, language: str | None) -> dict[str, Any]:
    """Summary, keywords and topics with no model: extractive sentences, yake keywords."""
    return {
        "summary": extractive_summary(text, language),
        "keywords": keywords(text, language),
        # Offline topics are the hour's leading one-word keywords: no model to name broader themes.
        "topics": keywords(text, language, top=TOPICS, ngram=1),
    }


def ollama_summary(text: str, language: str | None, settings: OllamaSettings) -> dict[str, Any]:
    """Summary, keywords and topics from the LLM; raises `LLMError`."""
    cut = len(text) > MAX_PROMPT_CHARS
    user = (
        f"Language code: {language or 'unknown'}.\n"
        + ("The transcript was cut to its first part.\n" if cut else "")
        + f"Transcript:\n{text[:MAX_PROMPT_CHARS]}"
    )
    reply = chat_json(
        [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
        SUMMARY_SCHEMA,
        settings,
    )
    return {
        "summary": reply["summary"].strip(),
        "keywords": [k.strip() for k in reply["keywords"] if k.strip()][:KEYWORDS],
        "topics": [t.strip() for t in reply["topics"] if t.strip()][:5],
    }


def summarise_hour(
    transcript: pd.DataFrame | None, llm: OllamaSettings | None = None, language: str | None = None
) -> dict[str, Any]:
    """The `summaries` row of one station-hour; LLM failures become a failed row."""
    text, count = kept_text(transcript)
    if language is None and transcript is not None and len(transcript) and "language" in transcript:
        detected = transcript["language"].dropna()
        language = str(detected.iloc[0]) if len(detected) else None
    row: dict[str, Any] = {
        "summary": "",
        "keywords": [],
        "topics": [],
        "status": "ok",
        "error": None,
        "language": language,
        "segments": count,
        "words": len(text.split()),
        "created_at": datetime.now(UTC),
    }
    if llm is not None and llm.enabled:
        row.update(engine="ollama", model=llm.model)
        if not text:
            return row
        try:
            row.update(ollama_summary(text, language, llm))
        except LLMError as exc:
            row.update(status="failed", error=f"{exc.kind}: {exc}")
        return row
    row.update(engine="offline", model=OFFLINE_MODEL)
    if text:
        row.update(offline_summary(text, language))
    return row


def needs_redo(summaries: pd.DataFrame) -> pd.DataFrame:
    """Rows an LLM should (re)do: written offline, or a failed LLM attempt."""
    if not len(summaries):
        return summaries
    mask = (summaries["engine"] == "offline") | (summaries["status"] == "failed")
    return summaries[mask]


def redo_keys(summaries: pd.DataFrame) -> Sequence[tuple[str, datetime]]:
    """(station, hour) pairs of `needs_redo` rows, oldest first."""
    rows = needs_redo(summaries)
    if not len(rows):
        return []
    pairs = {
        (str(s), pd.Timestamp(h).to_pydatetime()) for s, h in zip(rows["station"], rows["hour"], strict=True)
    }
    return sorted(pairs, key=lambda p: (p[1], p[0]))
