"""Imported once by the multiprocess executor's forkserver: every station step forks from a warm process.

Importing the code location, the instance's storage (SQLAlchemy, Alembic, dagster-postgres) and
resolving `process_hour` cost seconds of CPU; done here, each forked step inherits them instead of
paying them again (profiled: 80 % of a step process's time went to these imports).
"""

import dagster._core.storage.event_log.sqlite  # noqa: F401
import dagster._core.storage.local_compute_log_manager  # noqa: F401
import dagster._core.storage.runs.sqlite  # noqa: F401
import dagster._core.storage.schedules.sqlite  # noqa: F401
import dagster._core.storage.sqlite_storage  # noqa: F401
import dagster_postgres  # noqa: F401

from pige_pipeline.cli.scale import process_hour_job
from pige_pipeline.definitions import defs

defs.get_repository_def()
process_hour_job()
