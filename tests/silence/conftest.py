"""Fixtures for the dead-air tests: real music decoded once, and a stations file with silence settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE
from pige_pipeline.testing import silence_synth as synth
from pige_pipeline.testing.sources import asc_tracks, singularity_tracks


@pytest.fixture(scope="session")
def music() -> np.ndarray:
    """90 s of real orchestral music (singularity-music, CC BY-SA 3.0) at 11025 Hz mono, float."""
    return synth.load_excerpt(singularity_tracks()[0], 30.0, 90.0)


@pytest.fixture(scope="session")
def other_music() -> np.ndarray:
    """60 s of another real track (asc-music, GPL-2+)."""
    return synth.load_excerpt(asc_tracks()[0], 60.0, 60.0)


@pytest.fixture(scope="session")
def sample_rate() -> int:
    return ANALYSIS_SAMPLE_RATE


@pytest.fixture
def stations_yaml(data_root: Path) -> Path:
    path = data_root / "stations.yaml"
    path.write_text(
        """stations:
  - id: fm1
    name: Radio Un
    stream_url: http://127.0.0.1:8000/fm1.mp3
    timezone: Europe/Paris
    silence: {threshold_db: -50, min_seconds: 2, alert_seconds: 5, warning_seconds: 15, critical_seconds: 60}
  - id: fm2
    name: Radio Deux
    stream_url: http://127.0.0.1:8000/fm2.mp3
""",
        encoding="utf-8",
    )
    return path
