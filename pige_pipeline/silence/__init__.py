"""Dead air: detection in decoded audio, the hourly `silences` rows, alerts and the live monitor.

Only the detector is exported here, so that `pige silence detect` starts without pyarrow or pydantic;
the hourly rows are in `pige_pipeline.silence.rows`.
"""

from pige_pipeline.silence.detect import (
    DEFAULT_TUNING,
    DetectorTuning,
    Silence,
    detect_silences,
    detect_silences_in_file,
)

__all__ = [
    "DEFAULT_TUNING",
    "DetectorTuning",
    "Silence",
    "detect_silences",
    "detect_silences_in_file",
]
