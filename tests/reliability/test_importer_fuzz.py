"""Property tests of `pige import` patterns, and the bad names that used to stop a whole import."""

from __future__ import annotations

import re
import shutil
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pige_pipeline.cli import app
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.store.importer import PatternError, compile_pattern, import_archive

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(alphabet=string.printable + "éß\x00", max_size=40))
def test_any_pattern_compiles_or_is_refused_with_a_pattern_error(pattern: str) -> None:
    try:
        regex = compile_pattern(pattern)
    except PatternError as exc:
        assert repr(pattern) in str(exc)  # the message quotes the pattern it refuses
        return
    assert isinstance(regex, re.Pattern)
    for code in "Ymd H".replace(" ", ""):
        assert f"%{code}" in pattern.replace("%%", "")


# Literal text between fields: no digits and no '*' next to a field, so the split is unambiguous.
literal = st.text(alphabet=string.ascii_letters + "_-./ ()[]{}+?^$|\\", max_size=4)
fields = st.permutations(["%Y", "%m", "%d", "%H", "%M", "%S"])


@FUZZ
@given(
    fields,
    st.integers(4, 6),
    st.lists(literal, min_size=7, max_size=7),
    st.booleans(),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31)),
)
def test_generated_patterns_read_back_the_time_they_name(
    order: list[str], used: int, texts: list[str], star: bool, moment: datetime
) -> None:
    chosen = [f for f in order if f in ("%Y", "%m", "%d", "%H")] + [f for f in order if f in ("%M", "%S")]
    chosen = chosen[:used]
    pattern = "".join(t + f for t, f in zip(texts, chosen, strict=False))
    pattern += ".x" + ("*" if star else ".mp3")
    name = moment.strftime(pattern.replace("*", "anything"))
    match = compile_pattern(pattern).match(name)
    assert match, (pattern, name)
    got = {k: int(v) for k, v in match.groupdict().items()}
    want = {"Y": moment.year, "m": moment.month, "d": moment.day, "H": moment.hour,
            "M": moment.minute, "S": moment.second}  # fmt: skip
    assert got == {k: want[k] for k in got}


def test_impossible_dates_are_reported_and_the_rest_is_imported(
    tmp_path: Path, data_root: Path, music_clip: Path
) -> None:
    archive = tmp_path / "archive"
    good = archive / "2026-07-14-09.mp3"
    bad = archive / "2026-13-45-99.mp3"
    archive.mkdir()
    shutil.copy(music_clip, good)
    shutil.copy(music_clip, bad)
    report = import_archive(archive, data_root, "alpha")
    assert [src for src, _ in report.imported] == [good]
    [(src, why)] = report.skipped_unreadable
    assert src == bad and "impossible date" in why and str(bad) in why
    assert [c.start for c in list_chunks(data_root, "alpha")] == [datetime(2026, 7, 14, 9, tzinfo=UTC)]


@pytest.mark.parametrize("zone", ["Nope/Zone", "America"])
def test_unknown_timezone_option_is_a_clear_error(tmp_path: Path, data_root: Path, zone: str) -> None:
    (tmp_path / "archive").mkdir()
    result = CliRunner().invoke(
        app, ["import", str(tmp_path / "archive"), "--station", "a", "--timezone", zone]
    )
    assert result.exit_code == 2
    assert f"unknown timezone {zone!r}" in result.output
