"""The DuckDB swap: a reader in another process keeps a valid snapshot while the database is rebuilt."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from pige_pipeline.analytics import connect, rebuild
from pige_pipeline.analytics.schemas import ASSET_SCHEMAS
from pige_pipeline.store.parquet import read_asset_hour, write_asset_hour
from pige_pipeline.testing.synthetic_year import SyntheticData, settings_for

READER = """
import sys
from pathlib import Path
from pige_pipeline.analytics import connect
con = connect(Path(sys.argv[1]))
for line in sys.stdin:
    command = line.strip()
    if command == "reconnect":
        con.close()
        con = connect(Path(sys.argv[1]))
    plays = con.execute("SELECT count(*) FROM plays").fetchone()[0]
    views = con.execute("SELECT count(*) FROM airplay_events").fetchone()[0]
    print(plays, views, flush=True)
"""


def _ask(reader: subprocess.Popen[str], command: str = "count") -> tuple[int, int]:
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.write(command + "\n")
    reader.stdin.flush()
    line = reader.stdout.readline()
    assert line, "the reader process died"
    plays, views = line.split()
    return int(plays), int(views)


def test_reader_in_another_process_survives_rebuilds(synthetic_copy: tuple[Path, SyntheticData]) -> None:
    root, _data = synthetic_copy
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        before = _ask(reader)
        # Drop every play of one hour; the rebuild must not be blocked by the open reader.
        hour = datetime(2026, 1, 31, 12, tzinfo=UTC)
        rows = read_asset_hour(root, "airplay_events", "radio-a", hour)
        assert rows is not None and len(rows) >= 10
        write_asset_hour(
            root, "airplay_events", "radio-a", hour, rows.iloc[:0], ASSET_SCHEMAS["airplay_events"]
        )
        for _ in range(2):
            rebuild(settings_for(root))
            # The open connection still answers, from the snapshot it opened (its tables are unchanged).
            assert _ask(reader)[0] == before[0]
        with connect(root) as con:
            now_plays = con.execute("SELECT count(*) FROM plays").fetchone()[0]
        assert now_plays < before[0]
        assert _ask(reader, "reconnect") == (now_plays, before[1] - len(rows))
        assert not (root / "analytics" / "analytics.duckdb.tmp").exists()
    finally:
        assert reader.stdin is not None
        reader.stdin.close()
        reader.wait(timeout=30)
    assert reader.returncode == 0, reader.stderr.read() if reader.stderr else ""
