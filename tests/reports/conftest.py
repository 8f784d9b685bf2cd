"""Data roots for the report tests: a synthetic year (every hourly asset), and the demo's hour."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pige_pipeline.analytics import rebuild
from pige_pipeline.testing.synthetic_year import SyntheticData, build_synthetic_root, settings_for
from tests.demo.support import DemoRun, demo_run_once


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


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo data root: `pige demo --no-ui`, run once per session (shared with tests/demo)."""
    return demo_run_once(tmp_path_factory)
