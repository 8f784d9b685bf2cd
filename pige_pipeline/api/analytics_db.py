"""Read-only access to `analytics.duckdb` that follows the rebuild's atomic swap without a restart.

The rebuild writes `analytics.duckdb.tmp` and `os.replace`s it over the live name, so a new build is a
new inode. DuckDB caches open databases by path inside a process: a second `duckdb.connect(path)`
while the first is open returns the *old* file. So each build is attached to its own in-memory
instance, keyed by the file's inode and mtime; a request takes a cursor on the instance of the
current file. Requests already running keep their cursor (and the old inode) until they finish,
and the writer never waits for them: it never opens the live file.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path

import duckdb

from pige_pipeline.analytics.build import AnalyticsNotBuiltError, db_path

CATALOG = "analytics"


class ResponseCache:
    """Response bodies of one build, keyed by what the response depends on; least recently used out.

    A build never changes once swapped in, so neither does a response computed from it: a page or a
    statement asked for again is served from here, without DuckDB, until the next build. The bodies
    are held to `max_bytes` in all; 0 turns the cache off.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes // 8:  # one huge answer must not empty the cache
            return
        with self._lock:
            old = self._items.pop(key, None)
            self.size += len(body) - (len(old) if old is not None else 0)
            self._items[key] = body
            while self.size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped)


class AnalyticsReader:
    """Cursors on the current analytics build of a data root."""

    def __init__(self, data_root: Path, threads: int | None = None, cache_bytes: int = 256 * 2**20) -> None:
        self.path = db_path(data_root)
        self.threads = threads
        self.cache_bytes = cache_bytes
        self._lock = threading.Lock()
        self._instance: duckdb.DuckDBPyConnection | None = None
        self._key: tuple[int, int, int] | None = None
        self._memo: dict[str, object] = {"responses": ResponseCache(cache_bytes)}

    def _file_key(self) -> tuple[int, int, int]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise AnalyticsNotBuiltError(
                f"{self.path} does not exist yet: run `pige analytics rebuild` or materialize the "
                "`analytics` asset"
            ) from None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _open(self) -> duckdb.DuckDBPyConnection:
        config: dict[str, str | int] = {"threads": self.threads} if self.threads else {}
        instance = duckdb.connect(":memory:", config=config)
        path = str(self.path).replace("'", "''")
        instance.execute(f"ATTACH '{path}' AS {CATALOG} (READ_ONLY)")
        instance.execute("SET GLOBAL TimeZone = 'UTC'")
        return instance

    def build(self) -> tuple[duckdb.DuckDBPyConnection, dict[str, object]]:
        """The newest build's instance (take cursors on it with `cursor_on`) and that build's memo.

        The memo holds what a request would otherwise read again and again from a build that cannot
        change (station zones, the `responses` cache): a new build (new inode, mtime or size) starts a
        new one, so nothing read from an older build is served after the swap.
        """
        key = self._file_key()
        with self._lock:
            if key != self._key or self._instance is None:
                # The old instance is dropped, not closed: closing it would close the cursors of
                # requests still reading the previous build. It goes away with its last cursor.
                self._instance = self._open()
                self._key = key
                self._memo = {"responses": ResponseCache(self.cache_bytes)}
            return self._instance, self._memo

    @staticmethod
    def cursor_on(instance: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """A cursor on a build's instance, with the analytics catalog as default; close it after use."""
        cursor = instance.cursor()
        cursor.execute(f"USE {CATALOG}")
        return cursor

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the newest build, with the analytics catalog as default; close it after use."""
        return self.cursor_on(self.build()[0])

    def generation(self) -> tuple[int, int, int] | None:
        """The (inode, mtime, size) of the build the last cursor was taken on."""
        return self._key
