"""Hallucination guards: Whisper invents text on music, silence and noise, or loops on one phrase.

Each rule returns a reason; a segment that trips one is kept in `transcripts` with `dropped=True` and
the reason, so that what was thrown away can be audited, but it is never searched or summarised.
"""

from __future__ import annotations

import re
import unicodedata

NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
MAX_COMPRESSION_RATIO = 2.4
# Consecutive repeats of the same 1-4 word phrase that count as a decoding loop.
MAX_REPEATS = {1: 4, 2: 3, 3: 3, 4: 3}
# Subtitle credits and sign-offs Whisper learnt from its training data and produces on non-speech.
KNOWN_HALLUCINATIONS = (
    "sous-titrage societe radio-canada",
    "sous-titres realises par la communaute d'amara.org",
    "sous-titrage st' 501",
    "sous-titrage fr",
    "merci d'avoir regarde",
    "merci de votre attention",
    "abonnez-vous",
    "thank you for watching",
    "thanks for watching",
    "please subscribe",
    "subtitles by the amara.org community",
    "untertitel im auftrag des zdf",
)


def normalise(text: str) -> str:
    """Lower case, accents removed, whitespace collapsed: for accent-insensitive comparisons."""
    stripped = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in stripped if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", stripped.replace("’", "'")).strip()


def repetition_loop(text: str) -> bool:
    """True when a short phrase repeats back to back more than a speaker plausibly would."""
    words = re.findall(r"\w+", normalise(text))
    for size, limit in MAX_REPEATS.items():
        for first in range(len(words) - size * limit + 1):
            phrase = words[first : first + size]
            if all(words[first + k * size : first + (k + 1) * size] == phrase for k in range(1, limit)):
                return True
    return False


def drop_reason(text: str, avg_logprob: float, no_speech_prob: float, compression_ratio: float) -> str | None:
    """Why a Whisper segment should not be trusted, or None to keep it."""
    cleaned = normalise(text).strip(" .,!?…-")
    if not re.search(r"\w", cleaned):
        return "empty"
    if any(phrase in cleaned for phrase in KNOWN_HALLUCINATIONS):
        return "known_hallucination"
    if no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOW_LOGPROB:
        return "no_speech"
    if avg_logprob < LOW_LOGPROB:
        return "low_logprob"
    if compression_ratio > MAX_COMPRESSION_RATIO:
        return "compression_ratio"
    if repetition_loop(text):
        return "repetition"
    return None
