"""A loopback HTTP server that speaks AcoustID's lookup API (v2), for tests that use the real pyacoustid.

AcoustID's service cannot be reached from CI, so this answers `POST /v2/lookup` the way it does: the
form fields `client` (the application key), `fingerprint` (compressed Chromaprint), `duration` and
`meta`, possibly gzip-compressed as pyacoustid sends them over http, and JSON replies in AcoustID's
shape. It matches for real: the fingerprint is decoded and compared by bit error rate with the
recordings the test registered.

    with acoustid_server(api_key="k") as server:     # server.base_url == "http://127.0.0.1:<port>/v2/"
        server.add_recording(raw_prints, "mbid", "Title", ["Artist"])
        server.stall_s = 3.0                          # every reply waits (time-outs)
        server.requests                               # the form fields of every lookup
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import chromaprint
import numpy as np

# A query matches a recording when its sub-fingerprints differ from an aligned stretch of the
# recording's in at most this share of bits (unrelated music sits near 0.42, the same audio near 0).
MATCH_BER = 0.2
# AcoustID's error codes (https://acoustid.org/webservice): 4 = invalid API key, 3 = missing parameter.
INVALID_API_KEY, MISSING_PARAMETER = 4, 3


@dataclass
class Recording:
    prints: np.ndarray  # raw Chromaprint sub-fingerprints (uint32)
    recording_id: str
    title: str
    artists: list[str]


def bit_error_rate(query: np.ndarray, reference: np.ndarray) -> float:
    """The lowest share of differing bits between `query` and any aligned stretch of `reference`."""
    if len(query) == 0 or len(reference) < len(query):
        return 1.0
    best = 1.0
    for offset in range(len(reference) - len(query) + 1):
        diff = np.bitwise_xor(query, reference[offset : offset + len(query)])
        best = min(best, float(np.unpackbits(diff.view(np.uint8)).mean()))
    return best


class AcoustIdServer:
    """State shared between the test and the server threads."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.recordings: list[Recording] = []
        self.requests: list[dict[str, str]] = []
        self.stall_s = 0.0
        self.base_url = ""
        self._lock = threading.Lock()

    def add_recording(self, prints: np.ndarray, recording_id: str, title: str, artists: list[str]) -> None:
        self.recordings.append(Recording(np.asarray(prints, np.uint32), recording_id, title, artists))

    def lookup(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one lookup, as AcoustID answers it."""
        with self._lock:
            self.requests.append(form)
        for name in ("client", "fingerprint", "duration"):
            if not form.get(name):
                return 400, _error(MISSING_PARAMETER, f"missing required parameter '{name}'")
        if form["client"] != self.api_key:
            return 400, _error(INVALID_API_KEY, "invalid API key")
        try:
            query, _algorithm = chromaprint.decode_fingerprint(form["fingerprint"].encode())
        except Exception:
            return 400, _error(6, "invalid fingerprint")
        query_prints = np.asarray(query, dtype=np.int64).astype(np.uint32)
        results = []
        for rec in self.recordings:
            ber = bit_error_rate(query_prints, rec.prints)
            if ber > MATCH_BER:
                continue
            artists = [{"id": f"artist-{i}", "name": name} for i, name in enumerate(rec.artists)]
            recording = {"id": rec.recording_id, "title": rec.title, "artists": artists}
            wanted = "recordings" in form.get("meta", "").split()
            results.append(
                {
                    "id": f"track-{rec.recording_id}",
                    "score": round(1 - ber, 4),
                    "recordings": [recording] if wanted else [],
                }
            )
        results.sort(key=lambda r: -r["score"])
        return 200, {"status": "ok", "results": results}


def _error(code: int, message: str) -> dict[str, Any]:
    return {"status": "error", "error": {"code": code, "message": message}}


@contextmanager
def acoustid_server(api_key: str = "test-key") -> Iterator[AcoustIdServer]:
    """Serve AcoustID's lookup API on 127.0.0.1 (a free port) until the block ends."""
    state = AcoustIdServer(api_key)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if state.stall_s:
                time.sleep(state.stall_s)
            if self.path.rstrip("/") != "/v2/lookup":
                status, reply = 404, _error(MISSING_PARAMETER, f"unknown endpoint {self.path}")
            else:
                form = dict(urllib.parse.parse_qsl(body.decode()))
                status, reply = state.lookup(form)
            data = json.dumps(reply).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a time-out test)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v2/"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
