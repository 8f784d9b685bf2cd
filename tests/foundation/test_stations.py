from pathlib import Path

import pytest

from pige_pipeline.stations import StationsFileError, load_stations, parse_stations, redact_url


def _yaml(body: str) -> str:
    return "stations:\n" + body


GOOD = _yaml(
    """
  - id: radio-one
    name: Radio One
    stream_url: http://user:s3cret@127.0.0.1:8000/one.mp3
    timezone: Europe/Paris
    language: fr
    silence: {threshold_db: -55, alert_seconds: 8}
"""
)


def test_valid_file_with_defaults_and_overrides() -> None:
    registry = parse_stations(GOOD, "stations.yaml")
    station = registry.get("radio-one")
    assert station.silence.threshold_db == -55
    assert station.silence.alert_seconds == 8
    assert station.silence.min_seconds == 2.0  # default kept
    assert station.retention_days == 90
    assert station.enabled and registry.enabled == [station]
    assert "s3cret" not in station.safe_stream_url
    assert station.safe_stream_url == "http://user:***@127.0.0.1:8000/one.mp3"


def test_missing_field_names_file_station_and_field(tmp_path: Path) -> None:
    path = tmp_path / "stations.yaml"
    path.write_text(_yaml("  - id: radio-one\n    stream_url: http://h/x\n"))
    with pytest.raises(StationsFileError) as exc:
        load_stations(path)
    message = str(exc.value)
    assert str(path) in message
    assert "station #1 ('radio-one')" in message
    assert "field 'name'" in message and "required" in message


@pytest.mark.parametrize("bad_id", ["../x", "a/b", "Radio", "", ".hidden", "x" * 65])
def test_unsafe_station_ids_are_refused(bad_id: str) -> None:
    text = _yaml(f"  - id: {bad_id!r}\n    name: X\n    stream_url: http://h/x\n")
    with pytest.raises(StationsFileError) as exc:
        parse_stations(text, "st.yaml")
    assert "field 'id'" in str(exc.value)
    assert (
        "directory name" in str(exc.value) or "at least" in str(exc.value) or "not allowed" in str(exc.value)
    )


@pytest.mark.parametrize(
    "url, expected",
    [
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("concat:a.mp3|b.mp3", "contains whitespace or '|'"),
        ("ftp://h/x", "must start with http:// or https://"),
        ("http:///nohost", "has no host name"),
        ("not a url", "contains whitespace"),
    ],
)
def test_bad_stream_urls_are_refused(url: str, expected: str) -> None:
    text = _yaml(f"  - id: st\n    name: X\n    stream_url: {url!r}\n")
    with pytest.raises(StationsFileError) as exc:
        parse_stations(text, "st.yaml")
    assert "field 'stream_url'" in str(exc.value)
    assert expected in str(exc.value)


def test_duplicate_ids_unknown_fields_and_bad_timezone() -> None:
    dup = _yaml(
        "  - {id: a, name: A, stream_url: 'http://h/a'}\n  - {id: a, name: B, stream_url: 'http://h/b'}\n"
    )
    with pytest.raises(StationsFileError, match="appears twice"):
        parse_stations(dup)
    typo = _yaml("  - {id: a, name: A, stream_url: 'http://h/a', retention: 3}\n")
    with pytest.raises(StationsFileError, match="field 'retention': unknown field"):
        parse_stations(typo)
    tz = _yaml("  - {id: a, name: A, stream_url: 'http://h/a', timezone: Mars/Olympus}\n")
    with pytest.raises(StationsFileError, match="unknown timezone"):
        parse_stations(tz)
    order = _yaml("  - {id: a, name: A, stream_url: 'http://h/a', silence: {warning_seconds: 2}}\n")
    with pytest.raises(StationsFileError, match="field 'silence'"):
        parse_stations(order)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StationsFileError, match="not valid YAML"):
        parse_stations("stations: [unclosed", "s.yaml")
    with pytest.raises(StationsFileError, match="file not found"):
        load_stations(tmp_path / "nope.yaml")


def test_redact_url_keeps_urls_without_password() -> None:
    assert redact_url("https://h:8443/live") == "https://h:8443/live"
    assert redact_url("https://u:p@h:8443/live?x=1") == "https://u:***@h:8443/live?x=1"
