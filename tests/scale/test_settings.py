"""Executor settings from the environment: what each PIGE_EXECUTOR gives, and errors operators can act on."""

from __future__ import annotations

import pytest

from pige_pipeline.lib.executor import executor_for
from pige_pipeline.lib.hourly import stations_per_step
from pige_pipeline.scale.settings import ScaleSettings, parse_queues


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ScaleSettings:
    for name in ("PIGE_EXECUTOR", "PIGE_CELERY_BROKER", "PIGE_CELERY_BACKEND", "PIGE_MAX_CONCURRENT_STEPS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ScaleSettings.from_env()


def test_each_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert executor_for(_settings(monkeypatch)).name == "pige_multiprocess"
    assert executor_for(_settings(monkeypatch, PIGE_EXECUTOR="in_process")).name == "in_process"
    celery = _settings(monkeypatch, PIGE_EXECUTOR="celery", PIGE_CELERY_BROKER="redis://10.0.0.5:6379/0")
    assert executor_for(celery).name == "pige_celery"
    assert celery.backend == "redis://10.0.0.5:6379/0"
    config = celery.celery_config()
    # The two settings that make a killed worker's step come back instead of being lost.
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["broker_transport_options"]["visibility_timeout"] == 7200


def test_operator_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="PIGE_EXECUTOR=celery needs PIGE_CELERY_BROKER"):
        _settings(monkeypatch, PIGE_EXECUTOR="celery")
    with pytest.raises(ValueError, match="PIGE_CELERY_BROKER='amqp://x': give a redis:// URL"):
        _settings(monkeypatch, PIGE_EXECUTOR="celery", PIGE_CELERY_BROKER="amqp://x")
    with pytest.raises(ValueError, match="PIGE_EXECUTOR"):
        _settings(monkeypatch, PIGE_EXECUTOR="dask")
    with pytest.raises(ValueError, match="PIGE_MAX_CONCURRENT_STEPS"):
        _settings(monkeypatch, PIGE_MAX_CONCURRENT_STEPS="0")


def test_queues_and_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_queues("speech") == ["speech"]
    # Audio workers also take the default queue: catalogue, analytics and reports steps name no queue.
    assert parse_queues("audio,speech") == ["audio", "speech", "dagster"]
    with pytest.raises(ValueError, match="choose among audio, speech, dagster"):
        parse_queues("gpu")
    monkeypatch.setenv("PIGE_STATIONS_PER_STEP", "10")
    assert stations_per_step() == 10
    monkeypatch.setenv("PIGE_STATIONS_PER_STEP", "ten")
    with pytest.raises(ValueError, match="PIGE_STATIONS_PER_STEP='ten'"):
        stations_per_step()
