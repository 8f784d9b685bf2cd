"""Append-only JSON-lines logs (gaps, titles, acknowledgements, deletions) that a full disk cannot tear.

A write refused half-way by a full disk used to leave half a line, and the next line was glued to it:
one unreadable line, and a reader that stopped at it. Now a line is written whole or not at all (a
short write is cut back off), a line always starts on a line of its own, and readers skip a line
that is not a complete record, saying which.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def append_record(path: Path, record: dict, *, sync: bool = True) -> None:
    """Append `record` as one line, whole or not at all; raises OSError (nothing written) if it cannot."""
    payload = (json.dumps(record) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND: one write per line, so concurrent appenders (two recorders in a rotation) never interleave.
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            payload = b"\n" + payload  # end a line torn before this fix, so this one stays readable
        written = 0
        try:
            written = os.write(fd, payload)
            if written != len(payload):
                raise OSError(errno.ENOSPC, f"only {written} of {len(payload)} bytes written", str(path))
            if sync:
                os.fsync(fd)
        except OSError:
            # Leave no half line behind (unless another writer appended meanwhile): the caller keeps the
            # record and writes it again once there is room.
            with contextlib.suppress(OSError):
                if os.fstat(fd).st_size == size + written:
                    os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def read_records(path: Path) -> list[dict]:
    """Every complete record of a JSON-lines file, in order; a torn line is skipped with a warning."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            log.warning(
                "%s line %d is not a complete record (cut short by a full disk or a crash?); skipped",
                path,
                number,
            )
    return records
