"""Fixtures of the reliability tests: the bad-input corpus, built once per session from real audio."""

from __future__ import annotations

from pathlib import Path

import pytest

from .corpus_files import build_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("corpus"), with_long=True)
