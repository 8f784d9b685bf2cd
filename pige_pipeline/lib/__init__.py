"""Builders and resources the definitions in `defs/` are made with; Dagster never loads this package.

- `hourly.py`: the station-hour asset factory (plan -> one step per station batch -> finish).
- `partitions.py`: the hourly partitions every hourly asset shares.
- `resources.py`: one `ConfigurableResource` per external system, and `pige_resources()`.
- `alerting.py`: operations alerts through the notifier.
- `executor.py`, `preload.py`, `celery_app.py`: the executor chosen by PIGE_EXECUTOR, and the Celery app of
  `pige worker`.
"""
