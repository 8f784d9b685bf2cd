"""Bad catalogue rows are named by line and track_id; every other row is indexed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pige_pipeline.airplay.catalogue import CatalogueFileError, load_catalogue
from pige_pipeline.airplay.index import update_index
from pige_pipeline.cli import app

from .conftest import Catalogue, ffmpeg


def test_missing_duplicate_non_audio_and_video_rows(small_catalogue: Catalogue, tmp_path: Path) -> None:
    good = small_catalogue.tracks["SNG-001"]
    shutil.copy(good, tmp_path / "good.flac")
    (tmp_path / "notes.mp3").write_text("this is a text file, not audio\n")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=5", "-f", "lavfi", "-i", "sine=frequency=440",
           "-t", "4", "-shortest", str(tmp_path / "clip.mp4"))  # fmt: skip
    csv = tmp_path / "catalogue.csv"
    csv.write_text(
        "track_id,title,artist,isrc,path\n"
        "A1,Good,Someone,,good.flac\n"  # line 2
        "A2,Gone,Someone,,missing.flac\n"  # line 3
        "A1,Again,Someone,,good.flac\n"  # line 4
        "A3,Text,Someone,,notes.mp3\n"  # line 5
        "A4,Video,Someone,,clip.mp4\n"  # line 6
        ",No id,Someone,,good.flac\n",  # line 7
        encoding="utf-8",
    )
    update = update_index(load_catalogue(csv), tmp_path / "state")
    assert list(update.index.tracks["track_id"]) == ["A1"]
    messages = sorted(str(p) for p in update.problems)
    assert len(messages) == 5
    by_line = {p.line: p for p in update.problems}
    assert (
        by_line[3].track_id == "A2"
        and "file not found" in by_line[3].message
        and "missing.flac" in str(by_line[3])
    )
    assert by_line[4].track_id == "A1" and "duplicate track_id (first on line 2)" in by_line[4].message
    assert by_line[5].track_id == "A3" and "not readable audio" in by_line[5].message
    assert by_line[6].track_id == "A4" and "video file" in by_line[6].message
    assert by_line[7].track_id is None and "track_id" in by_line[7].message
    assert all(str(csv) in m and "line " in m for m in messages)

    result = CliRunner().invoke(app, ["catalogue", "check", "--catalogue", str(csv)])
    assert result.exit_code == 1
    assert "line 4 (track_id 'A1'): duplicate track_id" in result.output


def test_paths_the_system_cannot_interpret_are_problems_not_crashes(tmp_path: Path) -> None:
    # Found by the catalogue fuzz test: "~0" asks for the home of a user named "0".
    csv = tmp_path / "catalogue.csv"
    csv.write_text(
        "track_id,title,artist,isrc,path\n"
        "B1,Home,Someone,,~no-such-user-pige/a.flac\n"  # line 2
        f"B2,Long,Someone,,{'x' * 5000}.flac\n",  # line 3
        encoding="utf-8",
    )
    catalogue = load_catalogue(csv)
    assert catalogue.entries == []
    by_line = {p.line: p for p in catalogue.problems}
    assert set(by_line) == {2, 3}
    assert by_line[2].track_id == "B1" and "~no-such-user-pige/a.flac" in by_line[2].message
    assert by_line[3].track_id == "B2"


def test_unusable_csv_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(CatalogueFileError, match="not found"):
        load_catalogue(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,x\n", encoding="utf-8")
    with pytest.raises(CatalogueFileError, match="lacks column"):
        load_catalogue(bad)
