"""The per-build response cache: a response is computed once per build; a new build starts afresh."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from pige_pipeline.analytics.build import db_path
from pige_pipeline.api.analytics_db import AnalyticsReader, ResponseCache
from pige_pipeline.api.app import _cache_bytes
from pige_pipeline.api.query import Analytics


def _write_build(root: Path, value: int) -> None:
    """A tiny analytics database, swapped in as the rebuild does (a new file, os.replace)."""
    live = db_path(root)
    live.parent.mkdir(parents=True, exist_ok=True)
    tmp = live.with_name(live.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    con.execute("CREATE TABLE answer AS SELECT ? AS value", [value])
    con.close()
    os.replace(tmp, live)


def test_least_recently_used_bodies_go_first_and_zero_bytes_keep_nothing() -> None:
    cache = ResponseCache(80)
    cache.put("a", b"1" * 10)
    cache.put("b", b"2" * 10)
    assert cache.get("a") == b"1" * 10  # "a" is now the most recently used
    for key in "cdefgh":
        cache.put(key, key.encode() * 10)
    assert cache.size == 80 and cache.get("b") == b"2" * 10  # 80 bytes: all kept
    cache.get("a")
    cache.put("i", b"i" * 10)  # over 80 bytes: the least recently used goes, "c" ("a" and "b" were read)
    assert cache.get("c") is None and cache.get("a") is not None and cache.get("b") is not None
    assert cache.size == 80
    cache.put("big", b"x" * 11)  # over an eighth of the cache: not kept
    assert cache.get("big") is None
    off = ResponseCache(0)
    off.put("a", b"")
    off.put("b", b"1")
    assert off.get("b") is None


def test_a_response_is_computed_once_per_build(tmp_path: Path) -> None:
    _write_build(tmp_path, 1)
    reader = AnalyticsReader(tmp_path)
    computed: list[int] = []

    def answer(read: Analytics) -> bytes:
        value = read.execute("SELECT value FROM answer").fetchone()[0]
        computed.append(value)
        return str(value).encode()

    for _ in range(3):
        read = Analytics(*reader.build())
        assert read.cached_body("answer", lambda read=read: answer(read)) == b"1"
        read.close()
    assert computed == [1]
    _write_build(tmp_path, 2)  # a new build: new inode, so a new memo and an empty cache
    read = Analytics(*reader.build())
    assert read.cached_body("answer", lambda: answer(read)) == b"2"
    read.close()
    assert computed == [1, 2]


def test_a_cache_hit_takes_no_cursor(tmp_path: Path) -> None:
    _write_build(tmp_path, 1)
    reader = AnalyticsReader(tmp_path)
    first = Analytics(*reader.build())
    first.cached_body("k", lambda: b"x")
    first.close()
    second = Analytics(*reader.build())
    assert second.cached_body("k", lambda: pytest.fail("computed again")) == b"x"
    assert second._cursor is None
    second.close()


def test_cache_size_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIGE_API_CACHE_MB", raising=False)
    assert _cache_bytes() == 256 * 2**20
    monkeypatch.setenv("PIGE_API_CACHE_MB", "0")
    assert _cache_bytes() == 0
    monkeypatch.setenv("PIGE_API_CACHE_MB", "many")
    with pytest.raises(ValueError, match="PIGE_API_CACHE_MB"):
        _cache_bytes()
