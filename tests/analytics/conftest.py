"""A synthetic data root with every hourly asset (hourly layout), built once and analysed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pige_pipeline.analytics import rebuild
from pige_pipeline.testing.synthetic_year import SyntheticData, build_synthetic_root, settings_for


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticData]:
    root = tmp_path_factory.mktemp("analytics") / "data"
    data = build_synthetic_root(root)
    rebuild(settings_for(root))
    return root, data


@pytest.fixture
def synthetic_copy(synthetic: tuple[Path, SyntheticData], tmp_path: Path) -> tuple[Path, SyntheticData]:
    """A private copy for tests that change the data root."""
    root, data = synthetic
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    rebuild(settings_for(copy))  # views hold absolute paths: point them at the copy
    return copy, data
