"""Fixtures: the French mix, and one real run of the speech assets shared by the module's tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from pige_pipeline.store.chunks import chunk_path

from .helpers import CHUNK_OFFSET_S, HOUR, Mix, TranscribedHour, make_mix, materialize, stations_yaml


@pytest.fixture(scope="session")
def french_mix(tmp_path_factory: pytest.TempPathFactory) -> Mix:
    return make_mix(tmp_path_factory.mktemp("speech") / "mix.mp3")


@pytest.fixture(scope="session")
def transcribed_hour(tmp_path_factory: pytest.TempPathFactory, french_mix: Mix) -> Iterator[TranscribedHour]:
    """One real run of speech (timeline + transcripts), summaries (offline) and mentions."""
    from pige_pipeline.defs.speech.assets import mentions, speech, summaries

    root = tmp_path_factory.mktemp("speech-root") / "data"
    root.mkdir()
    stations_yaml(root / "stations.yaml")
    dest = chunk_path(root, "radio-fr", HOUR + timedelta(seconds=CHUNK_OFFSET_S), "mp3")
    dest.parent.mkdir(parents=True)
    shutil.copy(french_mix.path, dest)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OLLAMA_HOST", raising=False)
        for name in ("MODEL", "DEVICE", "COMPUTE_TYPE", "BEAM_SIZE", "BATCH_SIZE", "CPU_THREADS"):
            mp.delenv(f"PIGE_WHISPER_{name}", raising=False)
        result = materialize(root, [speech, summaries, mentions])
    yield TranscribedHour(root, french_mix, result)


@pytest.fixture
def hour_copy(transcribed_hour: TranscribedHour, tmp_path: Path) -> Path:
    """A writable copy of the transcribed hour's data root, for tests that rewrite files."""
    dest = tmp_path / "data"
    shutil.copytree(transcribed_hour.data_root, dest)
    return dest
