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
from pathlib import Path

import duckdb

from pige_pipeline.analytics.build import AnalyticsNotBuiltError, db_path

CATALOG = "analytics"


class AnalyticsReader:
    """Cursors on the current analytics build of a data root."""

    def __init__(self, data_root: Path, threads: int | None = None) -> None:
        self.path = db_path(data_root)
        self.threads = threads
        self._lock = threading.Lock()
        self._instance: duckdb.DuckDBPyConnection | None = None
        self._key: tuple[int, int, int] | None = None
        self._memo: dict[str, object] = {}

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

    def open(self) -> tuple[duckdb.DuckDBPyConnection, dict[str, object]]:
        """A cursor on the newest build (close it after use) and that build's memo.

        The memo holds what a request would otherwise read again and again from a build that cannot
        change (station zones): a new build (new inode, mtime or size) starts a new one.
        """
        key = self._file_key()
        with self._lock:
            if key != self._key or self._instance is None:
                # The old instance is dropped, not closed: closing it would close the cursors of
                # requests still reading the previous build. It goes away with its last cursor.
                self._instance = self._open()
                self._key = key
                self._memo = {}
            instance, memo = self._instance, self._memo
        cursor = instance.cursor()
        cursor.execute(f"USE {CATALOG}")
        return cursor, memo

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the newest build, with the analytics catalog as default; close it after use."""
        return self.open()[0]

    def generation(self) -> tuple[int, int, int] | None:
        """The (inode, mtime, size) of the build the last cursor was taken on."""
        return self._key
