"""Fixtures of the API tests: the demo hour plus a relabelled second station, tokens, a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.support import ApiServer, Tokens, build_api_root, make_tokens, start_server
from tests.demo.support import demo_run_once


@pytest.fixture(scope="session")
def api_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    demo = demo_run_once(tmp_path_factory)
    return build_api_root(demo.root, tmp_path_factory.mktemp("api") / "data")


@pytest.fixture(scope="session")
def tokens(api_root: Path) -> Tokens:
    return make_tokens(api_root)


@pytest.fixture(scope="session")
def server(api_root: Path, tokens: Tokens, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    running = start_server(api_root, tmp_path_factory.mktemp("api-log") / "api.log")
    yield running
    running.stop()
