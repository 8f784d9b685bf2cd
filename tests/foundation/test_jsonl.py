"""JSON-lines logs under a full disk: a line is written whole or not at all; a torn line never stops a reader.

Found by the full soak: the disk filled while the recorder appended a gap, half a line stayed in the
gap log, and `read_gaps` raised on it. The write limit here is a real one (RLIMIT_FSIZE makes the
kernel cut the write short, as a full disk does), set in a child process.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pige_pipeline.jsonl import append_record, read_records
from pige_pipeline.store.gaps import Gap, append_gap, gap_log_path, read_gaps

LIMITED_APPEND = """
import json, resource, signal, sys
from pige_pipeline.jsonl import append_record
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write returns an error instead of killing us
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    append_record(__import__("pathlib").Path(sys.argv[1]), json.loads(sys.argv[3]))
except OSError as exc:
    print("refused:", exc)
    sys.exit(3)
"""


def _append_with_room(path: Path, room_bytes: int, record: dict) -> subprocess.CompletedProcess[str]:
    limit = path.stat().st_size + room_bytes
    return subprocess.run(
        [sys.executable, "-c", LIMITED_APPEND, str(path), str(limit), json.dumps(record)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_line_the_disk_cuts_short_is_not_left_behind(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    append_record(log, {"n": 1})
    before = log.read_bytes()

    refused = _append_with_room(log, 10, {"n": 2, "detail": "x" * 100})
    assert refused.returncode == 3, refused.stderr
    assert "refused" in refused.stdout
    assert log.read_bytes() == before  # the 10 bytes that did fit were cut back off

    append_record(log, {"n": 3})  # room again: the next line is whole and readable
    assert read_records(log) == [{"n": 1}, {"n": 3}]


def test_a_torn_line_is_skipped_and_the_next_one_starts_on_its_own_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"n": 1}\n{"n": 2, "detail": "cut sh')  # as the soak found it
    append_record(log, {"n": 3})
    with caplog.at_level(logging.WARNING):
        assert read_records(log) == [{"n": 1}, {"n": 3}]
    assert "line 2" in caplog.text and str(log) in caplog.text


def test_gaps_are_read_past_a_torn_line(tmp_path: Path) -> None:
    start = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    first = Gap("s01", start, start + timedelta(seconds=8), "ffmpeg_exited", "killed")
    append_gap(tmp_path, first)
    path = gap_log_path(tmp_path, "s01", start)
    with open(path, "ab") as handle:
        handle.write(b'{"station": "s01", "start": "2026-11-22T09:40:00+00:00", "en')
    later = Gap("s01", start + timedelta(minutes=20), start + timedelta(minutes=20, seconds=11), "disk_full")
    append_gap(tmp_path, later)

    found = read_gaps(tmp_path, "s01", start - timedelta(hours=1), start + timedelta(hours=1))
    assert found == [first, later]
