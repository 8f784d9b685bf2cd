"""Optional AcoustID lookup of unknown music: off unless PIGE_ACOUSTID_KEY is set, rate-limited, soft-failing.

AcoustID identifies whole recordings, so this is a hint for the catalogue team, never a play.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np

log = logging.getLogger(__name__)
ENV_KEY = "PIGE_ACOUSTID_KEY"
# AcoustID asks clients for at most 3 requests per second.
MIN_INTERVAL_S = 0.34
TIMEOUT_S = 5.0


class AcoustIdLookup:
    """Callable (raw prints, duration_s) -> (recording_id, "artist - title") or None."""

    def __init__(self, api_key: str, min_interval_s: float = MIN_INTERVAL_S, timeout_s: float = TIMEOUT_S):
        self.api_key = api_key
        self.min_interval_s = min_interval_s
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._last = 0.0
        self.failures = 0

    def __call__(self, prints: np.ndarray, duration_s: float) -> tuple[str, str] | None:
        import acoustid
        import chromaprint

        with self._lock:
            wait = self._last + self.min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
        try:
            encoded = chromaprint.encode_fingerprint([int(v) for v in np.asarray(prints, np.uint32)], 1)
            result = acoustid.lookup(
                self.api_key, encoded, int(duration_s), meta="recordings", timeout=self.timeout_s
            )
        except Exception as exc:  # offline, timeout, bad key: the segment is still reported
            self.failures += 1
            log.warning("AcoustID lookup failed (%s); unknown segment kept without it", exc)
            return None
        for item in (result or {}).get("results", []):
            for rec in item.get("recordings") or []:
                artists = ", ".join(a.get("name", "") for a in rec.get("artists") or [])
                return str(rec.get("id")), f"{artists} - {rec.get('title', '')}".strip(" -")
        return None


def lookup_from_env() -> AcoustIdLookup | None:
    """The lookup if PIGE_ACOUSTID_KEY is set, else None (disabled, the default)."""
    key = os.environ.get(ENV_KEY, "").strip()
    return AcoustIdLookup(key) if key else None
