"""Property tests of the catalogue CSV parser: a catalogue with every row accounted for, or a file error."""

from __future__ import annotations

import csv
import io
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pige_pipeline.airplay.catalogue import REQUIRED_COLUMNS, CatalogueFileError, load_catalogue

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# str.splitlines() also breaks on these; the parser must leave line breaks to the csv module.
LINE_BREAKS_OF_SPLITLINES = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\r"
cells = st.one_of(
    st.text(
        string.printable.translate({ord(c): None for c in LINE_BREAKS_OF_SPLITLINES}) + "éß", max_size=12
    ),
    st.sampled_from(["", " ", "song.mp3", "missing.flac", "../../etc/passwd", "T1", "\t", "a\nb"]),
)


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text_gives_a_catalogue_or_a_file_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "catalogue.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        catalogue = load_catalogue(path)
    except CatalogueFileError as exc:
        assert str(path) in str(exc)
        return
    for problem in catalogue.problems:
        assert str(path) in str(problem) and f"line {problem.line}" in str(problem)


@FUZZ
@given(
    st.permutations([*REQUIRED_COLUMNS, "label"]),
    st.lists(st.lists(cells, min_size=5, max_size=7), max_size=8),
)
def test_every_data_row_is_an_entry_or_a_problem_naming_its_line(
    tmp_path: Path, header: list[str], rows: list[list[str]]
) -> None:
    (tmp_path / "song.mp3").write_bytes(b"ID3")  # exists; whether it is audio is checked at indexing
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path = tmp_path / "catalogue.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    catalogue = load_catalogue(path)
    records = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    # the parser counts physical lines; a quoted line break inside a cell makes a record span two
    accounted = [e.line for e in catalogue.entries] + [p.line for p in catalogue.problems]
    assert len(accounted) == len(set(accounted))
    blank = sum(1 for r in records[1:] if not any(c.strip() for c in r))
    assert len(accounted) == len(records) - 1 - blank
    ids = [e.track_id for e in catalogue.entries]
    assert len(ids) == len(set(ids))  # duplicate ids are problems, never two entries
    for entry in catalogue.entries:
        assert entry.file.is_file() and entry.track_id.strip() == entry.track_id != ""


def test_a_form_feed_inside_a_cell_keeps_the_row_whole(tmp_path: Path) -> None:
    (tmp_path / "song.mp3").write_bytes(b"ID3")
    path = tmp_path / "catalogue.csv"
    path.write_text("track_id,title,artist,isrc,path\nT1,Side\x0cA,Artist,,song.mp3\n", encoding="utf-8")
    catalogue = load_catalogue(path)
    assert [e.track_id for e in catalogue.entries] == ["T1"] and catalogue.problems == []
