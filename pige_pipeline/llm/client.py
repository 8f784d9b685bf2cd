"""The Ollama client wrapper: settings from the environment, one JSON-returning call, clear failures."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

import httpx
import ollama
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pige_pipeline.llm.schema import SchemaMismatch, validate

DEFAULT_MODEL = "mistral"


class LLMError(RuntimeError):
    """The LLM gave no usable answer. `kind` says why; the message names the server and the model."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class OllamaSettings(BaseModel):
    """Where the Ollama server is and how long to wait for it."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, description="Base URL of the Ollama server; None disables the LLM path.")
    model: str = Field(DEFAULT_MODEL, min_length=1, description="Ollama model name, e.g. 'mistral'.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds to wait for one reply.")
    retries: int = Field(2, ge=0, le=10, description="Extra attempts after a failed one.")
    retry_wait_s: float = Field(1.0, ge=0, description="Seconds before the first retry (doubles each time).")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        # Ollama's own clients accept "host:port"; keep that working.
        return value if "://" in value else f"http://{value}"

    @property
    def enabled(self) -> bool:
        return self.host is not None

    @classmethod
    def from_env(cls) -> OllamaSettings:
        """OLLAMA_HOST, PIGE_OLLAMA_MODEL, PIGE_OLLAMA_TIMEOUT_S, PIGE_OLLAMA_RETRIES."""
        env = os.environ
        values: dict[str, Any] = {"host": env.get("OLLAMA_HOST") or None}
        for field, name in (("model", "PIGE_OLLAMA_MODEL"), ("timeout_s", "PIGE_OLLAMA_TIMEOUT_S"),
                            ("retries", "PIGE_OLLAMA_RETRIES")):  # fmt: skip
            if env.get(name):
                values[field] = env[name]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(
                f"Ollama settings from the environment are not usable ({problems}); "
                "fix OLLAMA_HOST / PIGE_OLLAMA_MODEL / PIGE_OLLAMA_TIMEOUT_S / PIGE_OLLAMA_RETRIES"
            ) from None


def _client(settings: OllamaSettings) -> ollama.Client:
    return ollama.Client(host=settings.host, timeout=settings.timeout_s)


def ollama_reachable(settings: OllamaSettings) -> bool:
    """True when the server answers `/api/version` within the timeout."""
    if not settings.enabled:
        return False
    try:
        httpx.get(f"{settings.host.rstrip('/')}/api/version", timeout=min(settings.timeout_s, 10.0))
        return True
    except httpx.HTTPError:
        return False


def _parse(content: str, schema: dict[str, Any] | type[BaseModel]) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except json.JSONDecodeError as exc:
        raise LLMError(f"reply is not valid JSON ({exc.msg} at char {exc.pos}): {content[:200]!r}",
                       "invalid_json") from None  # fmt: skip
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            return schema.model_validate(value).model_dump()
        except ValidationError as exc:
            raise LLMError(f"reply does not match {schema.__name__}: {exc.errors()[0]['msg']} "
                           f"at {exc.errors()[0]['loc']}", "schema_mismatch") from None  # fmt: skip
    try:
        validate(value, schema)
    except SchemaMismatch as exc:
        raise LLMError(f"reply does not match the schema: {exc}", "schema_mismatch") from None
    return value


def chat_json(
    messages: Sequence[dict[str, str]],
    schema: dict[str, Any] | type[BaseModel],
    settings: OllamaSettings | None = None,
) -> dict[str, Any]:
    """Ask the model for a JSON object matching `schema`; raise `LLMError` when none comes."""
    settings = settings or OllamaSettings.from_env()
    if not settings.enabled:
        raise LLMError("OLLAMA_HOST is not set: no LLM server configured", "not_configured")
    json_schema = schema.model_json_schema() if isinstance(schema, type) else schema
    client = _client(settings)
    where = f"Ollama at {settings.host}, model {settings.model!r}"
    last: LLMError | None = None
    for attempt in range(settings.retries + 1):
        if attempt:
            time.sleep(settings.retry_wait_s * 2 ** (attempt - 1))
        try:
            response = client.chat(
                model=settings.model,
                messages=list(messages),
                format=json_schema,
                options={"temperature": 0},
                stream=False,
            )
            return _parse(response.message.content or "", schema)
        except LLMError as exc:
            last = LLMError(f"{where}: {exc}", exc.kind)
        except httpx.TimeoutException:
            last = LLMError(f"{where}: no reply within {settings.timeout_s:g} s", "timeout")
        except ConnectionError:
            last = LLMError(f"{where}: server unreachable; is `ollama serve` running?", "unreachable")
        except httpx.HTTPError as exc:
            last = LLMError(f"{where}: transport error {type(exc).__name__}: {exc}", "unreachable")
        except ollama.ResponseError as exc:
            last = LLMError(f"{where}: HTTP {exc.status_code}: {exc.error}", "http")
            if exc.status_code < 500:
                # A missing model or a bad request does not get better by asking again.
                break
    assert last is not None
    raise LLMError(f"{last} (after {attempt + 1} attempt(s))", last.kind)
