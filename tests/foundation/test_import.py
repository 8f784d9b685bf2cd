"""`pige import`: rotter layouts, a custom pattern, timezones, and unreadable files left in place."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pige_pipeline.cli import app
from pige_pipeline.store.chunks import chunk_path, list_chunks
from pige_pipeline.store.importer import PatternError, compile_pattern, import_archive


def test_rotter_hierarchy_in_local_time(tmp_path: Path, data_root: Path, music_clip: Path) -> None:
    archive = tmp_path / "rotter"
    good = archive / "2026/07/14/09/archive.mp3"  # rotter's default layout, local time
    good.parent.mkdir(parents=True)
    shutil.copy(music_clip, good)
    text = archive / "2026/07/14/10/archive.mp3"
    text.parent.mkdir(parents=True)
    text.write_text("not audio")
    empty = archive / "2026-07-14-11.mp3"  # rotter's flat layout
    empty.write_bytes(b"")

    report = import_archive(archive, data_root, "alpha", timezone="Europe/Paris")
    assert [dest for _, dest in report.imported] == [
        chunk_path(data_root, "alpha", datetime(2026, 7, 14, 7, tzinfo=UTC), "mp3")  # CEST = UTC+2
    ]
    reasons = {src: why for src, why in report.skipped_unreadable}
    assert set(reasons) == {text, empty}
    assert "not readable audio" in reasons[text] and "empty file" in reasons[empty]
    assert text.exists() and empty.exists() and good.exists()  # never moved or deleted

    again = import_archive(archive, data_root, "alpha", timezone="Europe/Paris")
    assert again.imported == [] and len(again.skipped_existing) == 1


def test_custom_pattern_via_cli(tmp_path: Path, data_root: Path, music_clip: Path, write_stations) -> None:
    write_stations("beta")
    archive = tmp_path / "logger"
    for name in ("BETA_20261120-0800.mp3", "BETA_20261120-0900.mp3", "notes.txt"):
        (archive / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(music_clip, archive / name) if name.endswith(".mp3") else (archive / name).write_text("x")
    result = CliRunner().invoke(
        app, ["import", str(archive), "--station", "beta", "--pattern", "BETA_%Y%m%d-%H%M.mp3"]
    )
    assert result.exit_code == 0, result.output
    assert "2 imported" in result.output and "1 unmatched" in result.output
    starts = [c.start for c in list_chunks(data_root, "beta")]
    assert starts == [datetime(2026, 11, 20, 8, tzinfo=UTC), datetime(2026, 11, 20, 9, tzinfo=UTC)]

    listing = CliRunner().invoke(app, ["chunks", "ls", "--station", "beta", "--probe"])
    assert listing.exit_code == 0 and "2 chunks" in listing.output and "mp3" in listing.output


def test_bad_patterns_are_explained() -> None:
    with pytest.raises(PatternError, match="must contain %Y, %m, %d and %H"):
        compile_pattern("%Y-%m.mp3")
    with pytest.raises(PatternError, match="%j is not supported"):
        compile_pattern("%Y/%j/%H.mp3")
    assert compile_pattern("%Y/%m/%d/%H/%Y-%m-%d-%H.*").match("2026/01/02/03/2026-01-02-03.mp3")
    assert not compile_pattern("%Y/%m/%d/%H/%Y-%m-%d-%H.*").match("2026/01/02/03/2026-01-02-04.mp3")


def test_stations_check_cli(data_root: Path, write_stations) -> None:
    write_stations(entries=[{"id": "a", "name": "A", "stream_url": "http://u:hunter2@h/a"}])
    ok = CliRunner().invoke(app, ["stations", "check"])
    assert ok.exit_code == 0 and "1 stations, 1 enabled, valid" in ok.output
    assert "hunter2" not in ok.output
    write_stations(entries=[{"id": "../x", "name": "A", "stream_url": "http://h/a"}])
    bad = CliRunner().invoke(app, ["stations", "check"])
    assert bad.exit_code == 2 and "field 'id'" in bad.output
