"""The executor every asset job uses, chosen by PIGE_EXECUTOR (pige_pipeline/scale/settings.py)."""

import dagster as dg
from dagster_celery import celery_executor

from pige_pipeline.scale.settings import ScaleSettings

# Modules a forkserver child starts with, so a station step forks a process that has already imported
# the code location instead of importing it again (seconds of CPU per step otherwise).
PRELOAD_MODULES = ["pige_pipeline.lib.preload"]


def executor_for(settings: ScaleSettings) -> dg.ExecutorDefinition:
    """The Dagster executor for `settings`: in-process, this machine's cores, or Celery workers."""
    if settings.executor == "in_process":
        return dg.in_process_executor
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor.configured(
            {
                "max_concurrent": settings.max_concurrent,
                "start_method": {"forkserver": {"preload_modules": PRELOAD_MODULES}},
            },
            name="pige_multiprocess",
        )
    return celery_executor.configured(
        {
            "broker": settings.celery_broker,
            "backend": settings.backend,
            "config_source": settings.celery_config(),
        },
        name="pige_celery",
    )
