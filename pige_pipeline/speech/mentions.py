"""Watch terms (a brand, a candidate's name) found in the kept transcript, case- and accent-insensitive."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from pige_pipeline.speech.guards import normalise


def term_pattern(term: str) -> re.Pattern[str]:
    """Whole-word match of a normalised term; inner spaces match any run of spaces or hyphens."""
    words = [re.escape(w) for w in re.split(r"[\s\-]+", normalise(term)) if w]
    if not words:
        raise ValueError(
            f"watch term {term!r} is empty once spaces are removed; fix the station's watch_terms"
        )
    return re.compile(r"(?<!\w)" + r"[\s\-']+".join(words) + r"(?!\w)")


def find_mentions(transcript: pd.DataFrame | None, terms: Sequence[str]) -> list[dict]:
    """One `mentions` row per (term, kept segment) where the term is said."""
    if transcript is None or not len(transcript) or not terms:
        return []
    patterns = [(term, term_pattern(term)) for term in dict.fromkeys(t.strip() for t in terms if t.strip())]
    kept = transcript[~transcript["dropped"].astype(bool)].sort_values("start_s")
    rows: list[dict] = []
    for seg in kept.itertuples(index=False):
        text = str(seg.text)
        plain = normalise(text)
        for term, pattern in patterns:
            if pattern.search(plain):
                rows.append(
                    {
                        "term": term,
                        "start": seg.start,
                        "start_s": float(seg.start_s),
                        "text": text,
                        "end": seg.end,
                        "end_s": float(seg.end_s),
                        "segment_id": seg.segment_id,
                    }
                )
    return rows
