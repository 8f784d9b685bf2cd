"""The Ollama wrapper against a loopback server speaking Ollama's API, through the real `ollama` client."""

from __future__ import annotations

import socket
import time

import ollama
import pytest
from pydantic import BaseModel

from pige_pipeline.llm import LLMError, OllamaSettings, chat_json, ollama_reachable
from tests.support.fake_ollama import fake_ollama

SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "keywords": {"type": "array", "items": {"type": "string"}}},
    "required": ["summary", "keywords"],
}
MESSAGES = [{"role": "user", "content": "Résume: la conférence débute."}]


def _settings(url: str, **extra: object) -> OllamaSettings:
    values: dict = {"host": url, "model": "mistral", "timeout_s": 2, "retries": 0, "retry_wait_s": 0}
    return OllamaSettings(**{**values, **extra})


def test_valid_reply_is_parsed_and_the_schema_is_sent() -> None:
    with fake_ollama() as server:
        server.reply_json({"summary": "Une conférence.", "keywords": ["conférence"]})
        reply = chat_json(MESSAGES, SCHEMA, _settings(server.url))
    assert reply == {"summary": "Une conférence.", "keywords": ["conférence"]}
    sent = server.chats[0]
    assert sent["format"] == SCHEMA
    assert sent["model"] == "mistral"
    assert sent["stream"] is False
    assert sent["messages"][0]["content"] == MESSAGES[0]["content"]


def test_pydantic_model_as_schema() -> None:
    class Reply(BaseModel):
        summary: str
        keywords: list[str]

    with fake_ollama() as server:
        server.reply_json({"summary": "ok", "keywords": ["a"]})
        assert chat_json(MESSAGES, Reply, _settings(server.url)) == {"summary": "ok", "keywords": ["a"]}
        server.reply_json({"summary": 3})
        with pytest.raises(LLMError) as err:
            chat_json(MESSAGES, Reply, _settings(server.url))
    assert err.value.kind == "schema_mismatch"
    assert server.chats[0]["format"]["properties"]["keywords"]["type"] == "array"


def test_malformed_reply_is_an_llm_error_after_retries() -> None:
    with fake_ollama() as server:
        server.reply_text("Sure! Here is the summary: {summary: oops")
        server.reply_text("still not json")
        with pytest.raises(LLMError) as err:
            chat_json(MESSAGES, SCHEMA, _settings(server.url, retries=1))
    assert err.value.kind == "invalid_json"
    assert "2 attempt" in str(err.value)
    assert len(server.chats) == 2


def test_retry_recovers_from_one_bad_reply() -> None:
    with fake_ollama() as server:
        server.reply_text("not json")
        server.reply_json({"summary": "second try", "keywords": []})
        reply = chat_json(MESSAGES, SCHEMA, _settings(server.url, retries=1))
    assert reply["summary"] == "second try"


def test_wrong_shape_is_a_schema_mismatch() -> None:
    with fake_ollama() as server:
        server.reply_json({"summary": "x", "keywords": "not a list"})
        with pytest.raises(LLMError) as err:
            chat_json(MESSAGES, SCHEMA, _settings(server.url))
    assert err.value.kind == "schema_mismatch"
    assert "reply.keywords" in str(err.value)


def test_timeout() -> None:
    with fake_ollama() as server:
        server.reply_slow(5.0, {"summary": "late", "keywords": []})
        started = time.monotonic()
        with pytest.raises(LLMError) as err:
            chat_json(MESSAGES, SCHEMA, _settings(server.url, timeout_s=0.5))
        assert time.monotonic() - started < 4
    assert err.value.kind == "timeout"


def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = _settings(f"http://127.0.0.1:{port}")
    with pytest.raises(LLMError) as err:
        chat_json(MESSAGES, SCHEMA, settings)
    assert err.value.kind == "unreachable"
    assert f"127.0.0.1:{port}" in str(err.value)
    assert not ollama_reachable(settings)


def test_missing_model_is_not_retried() -> None:
    with fake_ollama() as server:
        with pytest.raises(LLMError) as err:
            chat_json(MESSAGES, SCHEMA, _settings(server.url, model="llama9", retries=3))
        assert len(server.chats) == 1
    assert err.value.kind == "http"
    assert "llama9" in str(err.value)


def test_server_error_is_retried() -> None:
    with fake_ollama() as server:
        server.reply_error(500, "out of memory")
        server.reply_json({"summary": "ok", "keywords": []})
        assert chat_json(MESSAGES, SCHEMA, _settings(server.url, retries=1))["summary"] == "ok"


def test_real_client_streaming_tags_and_version() -> None:
    with fake_ollama() as server:
        assert ollama_reachable(_settings(server.url))
        client = ollama.Client(host=server.url, timeout=2)
        server.reply_text('{"summary": "streamed text"}')
        stream = client.chat(model="mistral", messages=MESSAGES, stream=True)
        pieces = [part.message.content for part in stream]
        assert len(pieces) > 2
        assert "".join(pieces) == '{"summary": "streamed text"}'
        assert [m.model for m in client.list().models] == ["mistral:latest"]


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert not OllamaSettings.from_env().enabled
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11434")
    monkeypatch.setenv("PIGE_OLLAMA_MODEL", "qwen2.5")
    monkeypatch.setenv("PIGE_OLLAMA_RETRIES", "0")
    settings = OllamaSettings.from_env()
    assert (settings.host, settings.model, settings.retries) == ("http://127.0.0.1:11434", "qwen2.5", 0)
    monkeypatch.setenv("PIGE_OLLAMA_TIMEOUT_S", "-3")
    with pytest.raises(ValueError, match="PIGE_OLLAMA_TIMEOUT_S"):
        OllamaSettings.from_env()
    with pytest.raises(LLMError) as err:
        chat_json(MESSAGES, SCHEMA, OllamaSettings())
    assert err.value.kind == "not_configured"
