"""Structured replies from a local Ollama server, for any domain that needs an LLM.

The whole API:

    from pige_pipeline.llm import LLMError, OllamaSettings, chat_json, ollama_reachable

    settings = OllamaSettings.from_env()       # None host when OLLAMA_HOST is unset: use an offline path
    if settings.enabled:
        reply = chat_json(
            [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}],
            schema,                              # a JSON schema dict, or a pydantic model class
            settings,
        )                                        # -> dict that matches the schema

- `OllamaSettings.from_env()` reads OLLAMA_HOST (e.g. http://127.0.0.1:11434), PIGE_OLLAMA_MODEL
  (default `mistral`), PIGE_OLLAMA_TIMEOUT_S (default 120) and PIGE_OLLAMA_RETRIES (default 2).
- `chat_json` sends the schema as Ollama's `format` (structured output), temperature 0, and checks the
  reply against it. It retries timeouts, unreachable servers, 5xx answers and replies that are not valid
  JSON for the schema, then raises `LLMError` (with `.kind`: "unreachable", "timeout", "http",
  "invalid_json", "schema_mismatch", "not_configured"). It never raises anything else for those cases,
  so a caller can record the failure and carry on.
- `ollama_reachable(settings)` asks `/api/version`: use it before re-doing work that waited for Ollama.
"""

from pige_pipeline.llm.client import LLMError, OllamaSettings, chat_json, ollama_reachable
from pige_pipeline.llm.schema import SchemaMismatch, validate

__all__ = ["LLMError", "OllamaSettings", "SchemaMismatch", "chat_json", "ollama_reachable", "validate"]
