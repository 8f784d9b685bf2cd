"""The evidence tests work on the demo's data root: a real hour, imported as a chunk, processed by
`process_hour` and rebuilt into analytics, with real plays of catalogue tracks and real dead air. The
demo runs once per test session (tests/demo/support.py), so these tests add only their own clips."""

from __future__ import annotations

import pytest

from tests.demo.support import DemoRun, demo_run_once


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return demo_run_once(tmp_path_factory)
