"""The demo data root: `pige demo --no-ui` once per session (tests/demo/support.py)."""

from __future__ import annotations

import pytest

from tests.demo.support import DemoRun, demo_run_once


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return demo_run_once(tmp_path_factory)
