"""Catalogue rows the fuzzer found: extra values and form feeds are reported, never silently dropped."""

from pathlib import Path

from pige_pipeline.airplay.catalogue import load_catalogue


def test_a_row_with_more_values_than_the_header_is_a_problem_naming_its_line(tmp_path: Path) -> None:
    (tmp_path / "song.mp3").write_bytes(b"ID3")
    csv_path = tmp_path / "catalogue.csv"
    csv_path.write_text(
        "track_id,title,artist,isrc,path\n"
        "T1,Song,Artist,,song.mp3\n"
        ",,,,,0\n"  # blank known fields but an extra value: not a blank line
        "T2,Hello, World,Artist,,song.mp3\n",  # unquoted comma in the title
        encoding="utf-8",
    )
    catalogue = load_catalogue(csv_path)
    assert [e.track_id for e in catalogue.entries] == ["T1"]
    assert [(p.line, p.track_id) for p in catalogue.problems] == [(3, None), (4, "T2")]
    assert all("more value(s) than the header" in str(p) for p in catalogue.problems)
