"""A report the demo cannot write is named and returned: `pige demo --no-ui` exits 1 on that list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pige_pipeline.demo.run import write_demo_reports


def test_reports_that_cannot_be_written_are_named(data_root: Path) -> None:
    (data_root / "reports").write_text("a file where the reports folder should be", encoding="utf-8")
    said: list[str] = []
    failed = write_demo_reports(datetime(2026, 3, 1, 10, tzinfo=UTC), said.append)
    assert failed == [
        "report daily --date 2026-03-01",
        "report airplay --month 2026-03",
        "report dead-air --date 2026-03-01",
        "report coverage --date 2026-03-01",
        "report stats",
    ]
    for args in failed:
        assert any(line.startswith(f"demo: {args} failed") and "Not a directory" in line for line in said), (
            said
        )
