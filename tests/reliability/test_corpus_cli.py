"""The bad-input corpus through the commands: each bad file is named with what to do, the others are done."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pige_pipeline.cli import app
from pige_pipeline.store.chunks import chunk_path, list_chunks
from pige_pipeline.testing.sources import singularity_tracks

from .corpus_files import CORPUS, VIDEO_ONLY

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)
BAD = [f for f in CORPUS if not f.readable]
GOOD = [f for f in CORPUS if f.readable]


def _invoke(args: list[str]) -> Result:
    result = CliRunner().invoke(app, args)
    # a command may exit non-zero to say some files were skipped, but never with a traceback
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_import_skips_each_bad_file_by_name_and_imports_the_rest(
    tmp_path: Path, data_root: Path, corpus: dict[str, Path]
) -> None:
    archive = tmp_path / "rotter"
    archive.mkdir()
    names = {}
    for hour, item in enumerate(CORPUS):
        name = f"2026-11-20-{hour:02d}.{item.name.rsplit('.', 1)[1]}"  # rotter's flat layout
        shutil.copy(corpus[item.name], archive / name)
        names[item.name] = archive / name
    result = _invoke(["import", str(archive), "--station", "alpha", "--timezone", "UTC"])
    assert result.exit_code == 1  # something was skipped: say so to scripts too
    for item in BAD:
        assert f"skipped (not readable audio, left in place): {names[item.name]}" in result.output
        assert names[item.name].exists()
    assert f"{len(GOOD)} imported" in result.output and f"{len(BAD)} unreadable" in result.output
    assert len(list_chunks(data_root, "alpha")) == len(GOOD)


def test_chunks_ls_probe_marks_each_bad_chunk_and_lists_all(data_root: Path, corpus: dict[str, Path]) -> None:
    for item in CORPUS:
        dest = chunk_path(
            data_root, item.name.split(".")[0].replace("_", "-"), HOUR, item.name.rsplit(".", 1)[1]
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus[item.name], dest)
    result = _invoke(["chunks", "ls", "--probe"])
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if "20261120T100000Z" in line]
    assert len(lines) == len(CORPUS) and f"{len(CORPUS)} chunks" in result.output
    bad_lines = [line for line in lines if "UNREADABLE" in line]
    assert len(bad_lines) == len(BAD)
    for line in bad_lines:
        path = line.split()[2]
        assert f"UNREADABLE: {path}:" in line
    truncated = next(line for line in lines if line.startswith("truncated"))
    assert " 16.0s mp3" in truncated  # the audio it holds, not what its header promises


def test_silence_detect_names_each_bad_file_and_writes_the_rest(
    tmp_path: Path, corpus: dict[str, Path]
) -> None:
    out = tmp_path / "silences.csv"
    result = _invoke(["silence", "detect", *[str(corpus[f.name]) for f in CORPUS], "--csv", str(out)])
    assert result.exit_code == 1
    for item in BAD:
        assert str(corpus[item.name]) in result.output
    for item in GOOD:
        assert f"{Path(item.name).stem}: " in result.output
    with out.open(encoding="utf-8") as handle:
        assert next(csv.reader(handle))[0] == "station"
    assert f"in {len(GOOD)} file(s) written" in result.output


def test_airplay_detect_names_each_bad_file_and_finds_the_track_in_the_rest(
    tmp_path: Path, data_root: Path, corpus: dict[str, Path]
) -> None:
    catalogue = tmp_path / "catalogue.csv"
    shutil.copy(corpus[VIDEO_ONLY], tmp_path / "clip.mp4")
    catalogue.write_text(
        "track_id,title,artist,isrc,path\n"
        f"T1,One,Phil Hassey,,{singularity_tracks()[1]}\n"
        "V1,Clip,Promo,,clip.mp4\n",
        encoding="utf-8",
    )
    out = tmp_path / "plays.csv"
    files = [str(corpus[f.name]) for f in CORPUS]
    result = _invoke(["airplay", "detect", *files, "--catalogue", str(catalogue), "--csv", str(out)])
    assert result.exit_code == 1
    assert "line 3 (track_id 'V1')" in result.output and "is a video file" in result.output
    for item in BAD:
        assert str(corpus[item.name]) in result.output
    with out.open(encoding="utf-8") as handle:
        found = {row["station"] for row in csv.DictReader(handle) if row["track_id"] == "T1"}
    music = {Path(f.name).stem for f in GOOD} - {"rate8k", "truncated"}
    assert music <= found


@pytest.mark.slow
def test_speech_transcribe_skips_bad_files_and_transcribes_the_rest(corpus: dict[str, Path]) -> None:
    files = [corpus["zero.mp3"], corpus["text.mp3"], corpus["rate8k.wav"], corpus["garbage.mp3"]]
    result = _invoke(["speech", "transcribe", *map(str, files), "--language", "fr"])
    assert result.exit_code == 1
    for name in ("zero.mp3", "text.mp3", "garbage.mp3"):
        assert f"skipped: {corpus[name]}" in result.output
    assert f"# {corpus['rate8k.wav']} (fr" in result.output
    assert sum(1 for line in result.output.splitlines() if line.startswith("[")) >= 3
