"""Imported once by the multiprocess executor's forkserver: every station step forks from a warm process.

Importing the code location and resolving `process_hour` cost seconds of CPU; done here, each forked
step inherits them instead of paying them again.
"""

from pige_pipeline.cli.scale import process_hour_job
from pige_pipeline.definitions import defs

defs.get_repository_def()
process_hour_job()
