"""One resource per external system: configured from the environment as before, or by a test's own values."""

from __future__ import annotations

import dagster as dg
import pytest

from pige_pipeline.definitions import defs
from pige_pipeline.lib.resources import (
    AcoustIDResource,
    LLMResource,
    NotifierResource,
    StorageHealthResource,
    WhisperResource,
    configured_from_env,
)


def test_every_external_system_is_a_resource_of_the_code_location() -> None:
    resources = defs.resources or {}
    assert {"pige", "whisper", "llm", "storage", "notifier", "acoustid"} <= set(resources)
    job = defs.resolve_job_def("process_hour")
    # The station steps ask for the resource of the system they use, not for the environment.
    speech_step = job.graph.node_dict["speech"].definition.node_dict["speech_stations"].definition
    summaries_step = job.graph.node_dict["summaries"].definition.node_dict["summaries_stations"].definition
    assert "whisper" in speech_step.required_resource_keys
    assert "llm" in summaries_step.required_resource_keys


def test_empty_fields_fall_back_to_the_readme_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIGE_WHISPER_CPU_THREADS", "3")
    monkeypatch.setenv("PIGE_WHISPER_BEAM_SIZE", "2")
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11434")
    monkeypatch.setenv("PIGE_STORAGE_MIN_DAYS", "21")
    assert WhisperResource().whisper_settings().cpu_threads == 3
    # A field that is set wins over the variable; the others still come from the environment.
    whisper = WhisperResource(cpu_threads="1").whisper_settings()
    assert (whisper.cpu_threads, whisper.beam_size, whisper.device) == (1, 2, "cpu")
    assert LLMResource().ollama_settings().host == "http://127.0.0.1:11434"
    assert LLMResource(model="mistral").ollama_settings().model == "mistral"
    assert StorageHealthResource().thresholds().min_days == 21
    assert StorageHealthResource(min_days="3").thresholds().min_days == 3


def test_bad_values_name_the_field_and_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIGE_WHISPER_DEVICE", raising=False)
    with pytest.raises(ValueError, match=r"Whisper resource \(PIGE_WHISPER_\*\): device"):
        WhisperResource(device="tpu").whisper_settings()
    with pytest.raises(ValueError, match="cpu_threads"):
        WhisperResource(cpu_threads="many").whisper_settings()
    with pytest.raises(ValueError, match=r"min_days='lots' is not a number"):
        StorageHealthResource(min_days="lots").thresholds()


def test_variables_set_at_load_are_bound_as_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {"PIGE_WHISPER_DEVICE": "cuda", "PIGE_WHISPER_MODEL": "  "}
    resource = configured_from_env(WhisperResource, environ)
    assert isinstance(resource.device, dg.EnvVar) and resource.device.env_var_name == "PIGE_WHISPER_DEVICE"
    assert resource.model == ""  # blank is unset: the embedded model
    # The variable is read where the step runs: a worker with another value gets its own.
    monkeypatch.setenv("PIGE_WHISPER_DEVICE", "auto")

    @dg.asset
    def whisper_device(whisper: WhisperResource) -> str:
        return whisper.whisper_settings().device

    result = dg.materialize([whisper_device], resources={"whisper": resource})
    assert result.output_for_node("whisper_device") == "auto"


def test_the_notifier_resource_reads_like_the_variables(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PIGE_SMTP_HOST", "mail.radio.test")
    monkeypatch.setenv("PIGE_ALERT_TO", "a@radio.test, b@radio.test")
    settings = NotifierResource(smtp_port="2525").notify_settings()
    assert (settings.smtp_host, settings.smtp_port, settings.alert_to) == (
        "mail.radio.test",
        2525,
        ["a@radio.test", "b@radio.test"],
    )
    assert NotifierResource(alert_to="c@radio.test").notify_settings().alert_to == ["c@radio.test"]
    with pytest.raises(ValueError, match="PIGE_SMTP_SECURITY"):
        NotifierResource(smtp_security="tls-please").notify_settings()
    # Its outbox is the data root's, the one every process that alerts shares.
    notifier = NotifierResource().notifier(tmp_path)
    assert str(notifier.outbox.path).startswith(str(tmp_path))


def test_acoustid_lookups_stay_off_without_a_key_and_name_a_bad_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIGE_ACOUSTID_KEY", raising=False)
    monkeypatch.setenv("PIGE_ACOUSTID_URL", "http://127.0.0.1:9/v2")
    assert AcoustIDResource().lookup() is None
    lookup = AcoustIDResource(api_key="k").lookup()
    assert lookup is not None and lookup.base_url == "http://127.0.0.1:9/v2/"
    with pytest.raises(ValueError, match="the acoustid resource's base_url='ftp://x' is not the base URL"):
        AcoustIDResource(api_key="k", base_url="ftp://x").lookup()
    # Only unknown_music looks up: its station steps ask for the resource, the plays' do not.
    job = defs.resolve_job_def("process_hour")
    steps = {
        name: job.graph.node_dict[name].definition.node_dict[f"{name}_stations"].definition
        for name in ("unknown_music", "airplay_events")
    }
    assert "acoustid" in steps["unknown_music"].required_resource_keys
    assert "acoustid" not in steps["airplay_events"].required_resource_keys
