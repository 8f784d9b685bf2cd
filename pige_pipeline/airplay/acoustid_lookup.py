"""Optional AcoustID lookup of unknown music: off unless PIGE_ACOUSTID_KEY is set, rate-limited, soft-failing.

AcoustID identifies whole recordings, so this is a hint for the catalogue team, never a play.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from urllib.parse import urlsplit

import numpy as np

log = logging.getLogger(__name__)
ENV_KEY = "PIGE_ACOUSTID_KEY"
# Another server speaking AcoustID's web API (a mirror, a proxy, the tests' loopback one).
ENV_URL = "PIGE_ACOUSTID_URL"
DEFAULT_BASE_URL = "https://api.acoustid.org/v2/"
# AcoustID asks clients for at most 3 requests per second.
MIN_INTERVAL_S = 0.34
TIMEOUT_S = 5.0


class AcoustIdLookup:
    """Callable (raw prints, duration_s) -> (recording_id, "artist - title") or None."""

    def __init__(
        self,
        api_key: str,
        min_interval_s: float = MIN_INTERVAL_S,
        timeout_s: float = TIMEOUT_S,
        base_url: str = DEFAULT_BASE_URL,
    ):
        self.api_key = api_key
        self.base_url = acoustid_base_url(base_url)
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
            # pyacoustid keeps its server in a module global; every lookup of a process uses the one URL.
            acoustid.set_base_url(self.base_url)
        try:
            encoded = chromaprint.encode_fingerprint([int(v) for v in np.asarray(prints, np.uint32)], 1)
            result = acoustid.lookup(
                self.api_key, encoded, int(duration_s), meta="recordings", timeout=self.timeout_s
            )
        except Exception as exc:  # offline, timeout, bad key: the segment is still reported
            self.failures += 1
            log.warning("AcoustID lookup failed (%s); unknown segment kept without it", exc)
            return None
        if (result or {}).get("status") != "ok":  # a bad key, a malformed request: said, not silent
            self.failures += 1
            error = (result or {}).get("error") or {}
            log.warning(
                "AcoustID at %s refused the lookup (%s); unknown segment kept without it",
                self.base_url,
                error.get("message") or result,
            )
            return None
        for item in (result or {}).get("results", []):
            for rec in item.get("recordings") or []:
                artists = ", ".join(a.get("name", "") for a in rec.get("artists") or [])
                return str(rec.get("id")), f"{artists} - {rec.get('title', '')}".strip(" -")
        return None


def acoustid_base_url(raw: str, source: str = ENV_URL) -> str:
    """`raw` as the base URL of an AcoustID web API (ending in /); ValueError naming `source` otherwise."""
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            f"{source}={raw!r} is not the base URL of an AcoustID API: give http(s)://host[:port]/path/, "
            f"e.g. {DEFAULT_BASE_URL} (the default), or unset it"
        )
    return url if url.endswith("/") else url + "/"


def lookup_from_env(
    api_key: str = "", base_url: str = "", url_source: str = ENV_URL
) -> AcoustIdLookup | None:
    """The lookup if a key is given or PIGE_ACOUSTID_KEY is set, else None (disabled, the default).

    `base_url` (named `url_source` in errors), else PIGE_ACOUSTID_URL, checked only when lookups are
    on, points them at another server.
    """
    key = api_key.strip() or os.environ.get(ENV_KEY, "").strip()
    if not key:
        return None
    url = base_url.strip()
    if not url:
        url, url_source = os.environ.get(ENV_URL, "").strip() or DEFAULT_BASE_URL, ENV_URL
    return AcoustIdLookup(key, base_url=acoustid_base_url(url, url_source))
