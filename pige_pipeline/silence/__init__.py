"""Dead air: detection in decoded audio, the hourly `silences` rows, alerts and the live monitor."""

from pige_pipeline.silence.detect import (
    DEFAULT_TUNING,
    DetectorTuning,
    Silence,
    detect_silences,
    detect_silences_in_file,
)
from pige_pipeline.silence.rows import SILENCES_SCHEMA, silence_rows

__all__ = [
    "DEFAULT_TUNING",
    "SILENCES_SCHEMA",
    "DetectorTuning",
    "Silence",
    "detect_silences",
    "detect_silences_in_file",
    "silence_rows",
]
