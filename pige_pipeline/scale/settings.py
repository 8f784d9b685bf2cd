"""Which executor runs the hourly station steps, read from PIGE_EXECUTOR and its companions.

`multiprocess` (the default) runs station steps in parallel on this machine's cores; `celery` sends them
to `pige worker` processes on any number of machines through Redis; `in_process` runs them one after
another in the run's own process (debugging). Configuration, not code: the same definitions serve all.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pige_pipeline.settings import model_from_env

AUDIO_QUEUE = "audio"
SPEECH_QUEUE = "speech"
# dagster-celery's default queue: steps that name no queue (catalogue, analytics, reports) go there.
DEFAULT_QUEUE = "dagster"
KNOWN_QUEUES = (AUDIO_QUEUE, SPEECH_QUEUE, DEFAULT_QUEUE)

_ENV = {
    "executor": "PIGE_EXECUTOR",
    "max_concurrent": "PIGE_MAX_CONCURRENT_STEPS",
    "celery_broker": "PIGE_CELERY_BROKER",
    "celery_backend": "PIGE_CELERY_BACKEND",
    "visibility_timeout_s": "PIGE_CELERY_VISIBILITY_TIMEOUT",
    "restore_interval_s": "PIGE_CELERY_RESTORE_INTERVAL",
}


class ScaleSettings(BaseModel):
    """Executor settings. Build with `ScaleSettings.from_env()`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    executor: Literal["in_process", "multiprocess", "celery"] = "multiprocess"
    max_concurrent: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=1024,
        description="multiprocess: station steps at once on this machine (default: every core).",
    )
    celery_broker: str = Field("", description="Redis URL of the Celery broker, e.g. redis://host:6379/0.")
    celery_backend: str = Field("", description="Redis URL for step results (default: the broker).")
    # A message a worker took but never acknowledged (the worker died) goes back to the queue after
    # this long. It must exceed the longest station step, or a slow step would run twice.
    visibility_timeout_s: int = Field(7200, ge=5)
    restore_interval_s: int = Field(10, ge=1, description="How often workers look for such messages.")

    @model_validator(mode="after")
    def _celery_needs_a_broker(self) -> ScaleSettings:
        if self.executor == "celery" and not self.celery_broker:
            raise ValueError(
                "PIGE_EXECUTOR=celery needs PIGE_CELERY_BROKER, the Redis URL every worker also uses "
                "(e.g. redis://10.0.0.5:6379/0)"
            )
        for name in ("celery_broker", "celery_backend"):
            url = getattr(self, name)
            if url and not url.startswith(("redis://", "rediss://", "redis+socket://")):
                raise ValueError(f"{_ENV[name]}={url!r}: give a redis:// URL (pige runs Celery on Redis)")
        return self

    @classmethod
    def from_env(cls) -> ScaleSettings:
        """PIGE_EXECUTOR, PIGE_MAX_CONCURRENT_STEPS, PIGE_CELERY_BROKER, PIGE_CELERY_BACKEND, ..."""
        return model_from_env(cls, _ENV, "executor settings")

    @property
    def backend(self) -> str:
        return self.celery_backend or self.celery_broker

    def celery_config(self) -> dict[str, Any]:
        """Celery settings shared by the run (which submits steps) and every worker (which runs them)."""
        transport = {
            "visibility_timeout": self.visibility_timeout_s,
            "unacked_restore_interval": self.restore_interval_s,
            # Scan Redis on every sweep, so a lost worker's step is back within visibility + interval.
            "unacked_restore_throttle": 1,
        }
        return {
            # Acknowledge a step when it is done, not when it is taken: a worker killed in the middle
            # leaves the message unacknowledged, and Redis hands it to another worker.
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "broker_transport_options": transport,
            "result_backend_transport_options": transport,
            "broker_connection_retry_on_startup": True,
            # The run reads a step's result as soon as it is stored; Celery's default keeps it a day,
            # which at 500 stations is gigabytes of Redis memory for nothing.
            "result_expires": 3600,
        }


def parse_queues(raw: str) -> list[str]:
    """`audio,speech` -> the Celery queues a worker listens to; `audio` also takes the default queue."""
    queues = [q.strip() for q in raw.split(",") if q.strip()]
    unknown = [q for q in queues if q not in KNOWN_QUEUES]
    if not queues or unknown:
        raise ValueError(
            f"--queues {raw!r}: choose among {', '.join(KNOWN_QUEUES)} (comma-separated), e.g. audio,speech"
        )
    if AUDIO_QUEUE in queues and DEFAULT_QUEUE not in queues:
        # Steps outside the hourly graph (catalogue, analytics, reports) name no queue; audio workers,
        # which every deployment has, take them.
        queues.append(DEFAULT_QUEUE)
    return queues
