"""The Celery app `pige worker` runs: dagster-celery's step task, with pige's broker and delivery rules.

The executor that submits steps (lib/executor.py) and the workers that run them must agree on
the broker and on late acknowledgement, so both read ScaleSettings from the same environment.
"""

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from pige_pipeline.scale.settings import ScaleSettings

settings = ScaleSettings.from_env()
app = make_app(
    CeleryExecutor.for_cli(
        broker=settings.celery_broker or None,
        backend=settings.backend or None,
        config_source=settings.celery_config(),
    ).app_args()
)
execute_plan = create_task(app)
