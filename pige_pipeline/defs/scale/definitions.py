"""Scale-out wiring: the executor of every asset job, and step outputs kept on the shared data root."""

import dagster as dg

from pige_pipeline.lib.executor import executor_for
from pige_pipeline.maintenance.housekeeping import STEP_OUTPUTS
from pige_pipeline.scale.settings import ScaleSettings
from pige_pipeline.settings import PigeSettings

# Station steps hand small results (counts, messages) to the hour's finish step through the IO manager.
# On the data root, every worker of a Celery deployment reads what another wrote; under DAGSTER_HOME
# each machine would only see its own.
# Housekeeping deletes them after a week.
STEP_OUTPUTS_DIR = PigeSettings.from_env().data_root / STEP_OUTPUTS

defs = dg.Definitions(
    executor=executor_for(ScaleSettings.from_env()),
    resources={"io_manager": dg.FilesystemIOManager(base_dir=str(STEP_OUTPUTS_DIR))},
)
