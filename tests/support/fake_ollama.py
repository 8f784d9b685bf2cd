"""A loopback HTTP server that speaks Ollama's API, for tests that use the real `ollama` client.

No Ollama server can be installed here (field notes), so this is the one allowed stand-in. It implements
`POST /api/chat` and `POST /api/generate` (plain and NDJSON streaming), `GET /api/tags` and
`GET /api/version`, and replays whatever the test queued:

    from tests.support.fake_ollama import fake_ollama

    with fake_ollama() as server:                 # server.url == "http://127.0.0.1:<port>"
        server.reply_json({"summary": "...", "keywords": [], "topics": []})
        server.reply_text("this is not JSON")     # malformed reply
        server.reply_slow(5.0, {"summary": "late"})  # for timeouts
        server.reply_error(500, "model crashed")
        ...                                       # replies are used in order, then `server.default`
        server.requests                           # every JSON body received, in order

`server.default` (a `Reply`) answers when the queue is empty; it starts as a valid empty JSON object.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAKE_VERSION = "0.6.0-pige-fake"


@dataclass
class Reply:
    """What the server answers to the next generation request."""

    content: str = "{}"
    status: int = 200
    error: str | None = None
    delay_s: float = 0.0


class FakeOllama:
    """State shared between the test and the server threads."""

    def __init__(self, models: tuple[str, ...] = ("mistral",)) -> None:
        self.models = list(models)
        self.default = Reply()
        self.requests: list[dict[str, Any]] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.url = ""

    def queue(self, reply: Reply) -> None:
        with self._lock:
            self._queue.append(reply)

    def reply_json(self, value: Any, delay_s: float = 0.0) -> None:
        self.queue(Reply(content=json.dumps(value), delay_s=delay_s))

    def reply_text(self, text: str) -> None:
        self.queue(Reply(content=text))

    def reply_slow(self, delay_s: float, value: Any = None) -> None:
        self.queue(Reply(content=json.dumps(value if value is not None else {}), delay_s=delay_s))

    def reply_error(self, status: int, message: str) -> None:
        self.queue(Reply(status=status, error=message))

    def next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)

    @property
    def chats(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "messages" in r]


def _handler(state: FakeOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value: Any) -> None:
            self._send(status, json.dumps(value).encode())

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            if self.path == "/api/version":
                self._json(200, {"version": FAKE_VERSION})
            elif self.path == "/api/tags":
                now = datetime.now(UTC).isoformat()
                models = [
                    {"name": f"{m}:latest", "model": f"{m}:latest", "modified_at": now, "size": 1,
                     "digest": "0" * 64, "details": {"format": "gguf", "family": m}}
                    for m in state.models
                ]  # fmt: skip
                self._json(200, {"models": models})
            elif self.path == "/":
                self._send(200, b"Ollama is running", "text/plain")
            else:
                self._json(404, {"error": f"unknown endpoint {self.path}"})

        def do_HEAD(self) -> None:  # noqa: N802
            self._send(200, b"", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._json(400, {"error": "request body is not JSON"})
                return
            if self.path not in ("/api/chat", "/api/generate"):
                self._json(404, {"error": f"unknown endpoint {self.path}"})
                return
            state.record(body)
            model = str(body.get("model", ""))
            if model.split(":")[0] not in state.models:
                self._json(404, {"error": f"model '{model}' not found"})
                return
            reply = state.next_reply()
            if reply.delay_s and state.stopping.wait(reply.delay_s):
                return
            if reply.error is not None:
                self._json(reply.status, {"error": reply.error})
                return
            chat = self.path == "/api/chat"
            if body.get("stream", True):
                self._stream(model, reply.content, chat)
            else:
                self._json(200, {**self._piece(model, reply.content, chat), **self._done()})

        @staticmethod
        def _piece(model: str, text: str, chat: bool) -> dict[str, Any]:
            base: dict[str, Any] = {"model": model, "created_at": datetime.now(UTC).isoformat()}
            if chat:
                base["message"] = {"role": "assistant", "content": text}
            else:
                base["response"] = text
            return base

        @staticmethod
        def _done() -> dict[str, Any]:
            return {"done": True, "done_reason": "stop", "total_duration": 1000, "eval_count": 1}

        def _stream(self, model: str, content: str, chat: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = max(1, len(content) // 4)
            pieces = [content[i : i + step] for i in range(0, len(content), step)] or [""]
            lines = [{**self._piece(model, p, chat), "done": False} for p in pieces]
            lines.append({**self._piece(model, "", chat), **self._done()})
            for line in lines:
                data = json.dumps(line).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    return Handler


@contextmanager
def fake_ollama(models: tuple[str, ...] = ("mistral",)) -> Iterator[FakeOllama]:
    """Serve Ollama's API on 127.0.0.1 (a free port) for the duration of the block."""
    state = FakeOllama(models)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-ollama", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
