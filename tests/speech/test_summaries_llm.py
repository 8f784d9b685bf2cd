"""Summaries through Ollama's API (real `ollama` client, loopback server): valid, malformed, timeout, redo."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pige_pipeline.cli import app
from pige_pipeline.defs.speech.assets import summaries
from pige_pipeline.llm import OllamaSettings
from pige_pipeline.speech.hour import read_transcript
from pige_pipeline.speech.summarise import SUMMARY_SCHEMA, summarise_hour
from pige_pipeline.store.parquet import read_asset_hour
from tests.support.fake_ollama import fake_ollama

from .helpers import HOUR, materialize

pytestmark = pytest.mark.slow  # needs the module's real transcript (one Whisper run, shared)

REPLY = {
    "summary": "Menu vocal d'une conférence téléphonique : sourdine, verrouillage, volume.",
    "keywords": ["conférence", "sourdine", "volume"],
    "topics": ["téléphonie"],
}


def _llm(url: str, **extra: object) -> OllamaSettings:
    values: dict = {"host": url, "model": "mistral", "timeout_s": 2, "retries": 0, "retry_wait_s": 0}
    return OllamaSettings(**{**values, **extra})


def test_valid_reply_becomes_the_row_and_the_prompt_carries_the_transcript(hour_copy: Path) -> None:
    transcript = read_transcript(hour_copy, "radio-fr", HOUR)
    with fake_ollama() as server:
        server.reply_json(REPLY)
        row = summarise_hour(transcript, _llm(server.url), "fr")
    assert (row["engine"], row["model"], row["status"]) == ("ollama", "mistral", "ok")
    assert row["summary"] == REPLY["summary"] and row["keywords"] == REPLY["keywords"]
    [chat] = server.chats
    assert chat["format"] == SUMMARY_SCHEMA
    prompt = chat["messages"][1]["content"]
    assert "verrouiller" in prompt.lower() and "Language code: fr" in prompt


@pytest.mark.parametrize(
    ("setup", "kind"),
    [
        (lambda s: s.reply_text("Voici le résumé : la conférence"), "invalid_json"),
        (lambda s: s.reply_json({"summary": "no keywords"}), "schema_mismatch"),
        (lambda s: s.reply_slow(5.0, REPLY), "timeout"),
    ],
)
def test_bad_replies_are_recorded_failures(hour_copy: Path, setup, kind: str) -> None:
    transcript = read_transcript(hour_copy, "radio-fr", HOUR)
    with fake_ollama() as server:
        setup(server)
        row = summarise_hour(transcript, _llm(server.url, timeout_s=0.5), "fr")
    assert (row["engine"], row["status"]) == ("ollama", "failed")
    assert row["error"].startswith(kind)
    assert row["summary"] == ""


def test_asset_run_survives_a_malformed_reply_then_redo_replaces_it(
    hour_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_ollama() as server:
        server.default.content = "this is not JSON"
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        monkeypatch.setenv("PIGE_OLLAMA_RETRIES", "1")
        monkeypatch.setenv("PIGE_OLLAMA_TIMEOUT_S", "2")
        result = materialize(hour_copy, [summaries])
        assert result.success  # the run goes on; the failure is a row and a failed check
        [check] = result.get_asset_check_evaluations()
        assert not check.passed and "radio-fr" in check.description
        row = read_asset_hour(hour_copy, "summaries", "radio-fr", HOUR).iloc[0]
        assert (row["status"], row["engine"]) == ("failed", "ollama")
        assert "invalid_json" in row["error"]

        # Ollama works again: the redo command finds the failed hour and replaces it.
        server.default.content = json.dumps(REPLY)
        runner = CliRunner()
        args = ["speech", "resummarise", "--from", "2026-11-20T00:00", "--to", "2026-11-21T00:00",
                "--data-root", str(hour_copy)]  # fmt: skip
        out = runner.invoke(app, args)
        assert out.exit_code == 0, out.output
        assert "replaced" in out.output and "1 of 1" in out.output
    row = read_asset_hour(hour_copy, "summaries", "radio-fr", HOUR).iloc[0]
    assert (row["status"], row["engine"], row["summary"]) == ("ok", "ollama", REPLY["summary"])


def test_offline_hours_are_redone_and_an_outage_keeps_them(
    hour_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline = read_asset_hour(hour_copy, "summaries", "radio-fr", HOUR).iloc[0]
    assert offline["engine"] == "offline"
    args = ["speech", "resummarise", "--from", "2026-11-20T00:00", "--to", "2026-11-21T00:00",
            "--data-root", str(hour_copy)]  # fmt: skip
    runner = CliRunner()
    monkeypatch.setenv("PIGE_OLLAMA_RETRIES", "0")
    monkeypatch.setenv("PIGE_OLLAMA_TIMEOUT_S", "2")
    with fake_ollama() as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        server.reply_text("{broken")
        out = runner.invoke(app, args)
        assert out.exit_code == 1 and "kept_offline" in out.output
        # A failed LLM attempt never replaces a usable offline summary.
        assert (
            read_asset_hour(hour_copy, "summaries", "radio-fr", HOUR).iloc[0]["summary"] == offline["summary"]
        )
        server.reply_json(REPLY)
        out = runner.invoke(app, args)
        assert out.exit_code == 0, out.output
    assert read_asset_hour(hour_copy, "summaries", "radio-fr", HOUR).iloc[0]["engine"] == "ollama"
    # Nothing left to redo; and without a server the command says so.
    out = runner.invoke(app, args)
    assert out.exit_code == 2 and "not reachable" in out.output


def test_redo_sensor_requests_offline_hours_only_when_ollama_answers(
    hour_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from pige_pipeline.defs.speech import sensors
    from pige_pipeline.lib.resources import LLMResource, PigeResource

    monkeypatch.setattr(sensors, "REDO_DAYS", (datetime.now(UTC) - HOUR).days + 2)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)

    def tick(llm: LLMResource) -> dg.SensorResult:
        resources = {"pige": PigeResource(data_root=str(hour_copy)), "llm": llm}
        with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources=resources) as context:
            return sensors.summaries_redo_sensor(context)

    assert "OLLAMA_HOST is not set" in tick(LLMResource()).skip_reason.skip_message
    with fake_ollama() as server:
        llm = LLMResource(host=server.url)  # the test's own resource, not the environment
        result = tick(llm)
    [request] = result.run_requests
    assert request.partition_key == "2026-11-20-10:00"
    assert request.run_key.startswith("redo-summaries-2026-11-20-10:00-")
    assert "does not answer" in tick(llm).skip_reason.skip_message  # the server is gone again
