"""Property tests of the `stations.yaml` parser: a valid registry or a `StationsFileError`, nothing else."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pige_pipeline.stations import (
    STATION_ID_PATTERN,
    StationsFile,
    StationsFileError,
    parse_stations,
    redact_url,
)

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Distinctive passwords, so that finding one in a message cannot be a coincidence.
passwords = st.text(string.ascii_letters + string.digits + "-._~", min_size=6, max_size=16).map(
    lambda s: f"pw{s}Z"
)
hosts = st.sampled_from(["127.0.0.1", "radio.example", "h", "[::1]", "", "host:8000", "host:99999", "host:x"])
schemes = st.sampled_from(["http", "https", "HTTP", "file", "ftp", "concat", ""])
paths = st.text(string.ascii_letters + string.digits + "/._- |", max_size=12)


@st.composite
def stream_urls(draw: st.DrawFn) -> tuple[str, str | None]:
    """A URL that may or may not be valid, and the password it carries (if any)."""
    password = draw(st.none() | passwords)
    userinfo = f"user:{password}@" if password else draw(st.sampled_from(["", "user@"]))
    return f"{draw(schemes)}://{userinfo}{draw(hosts)}/{draw(paths)}", password


scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.dates(),
)
station_ids = st.one_of(
    st.from_regex(STATION_ID_PATTERN, fullmatch=True),
    st.sampled_from(["../x", "a/b", "Radio", "", ".hidden", "x" * 65, "con", "a\x00b", "a b", "é"]),
    scalar,
)
timezones = st.one_of(
    st.sampled_from(["UTC", "Europe/Paris", "America", "Europe", "", "../etc", "a" * 300, "Nope/Nope"]),
    st.text(max_size=30),
    scalar,
)


@st.composite
def station_entries(draw: st.DrawFn) -> tuple[dict, str | None]:
    url, password = draw(stream_urls())
    entry: dict = {"id": draw(station_ids), "name": draw(st.text(max_size=10) | scalar), "stream_url": url}
    optional = {
        "timezone": timezones,
        "enabled": st.booleans() | scalar,
        "retention_days": st.integers(-5, 400) | scalar,
        "language": st.none() | st.text(max_size=3),
        "reencode": st.none() | st.text(max_size=8),
        "silence": st.fixed_dictionaries(
            {},
            optional={
                "threshold_db": st.floats(-120, 20) | scalar,
                "min_seconds": st.floats(-1, 10) | scalar,
                "alert_seconds": st.floats(-1, 100) | scalar,
                "warning_seconds": st.floats(-1, 100) | scalar,
            },
        ),
        "airplay": st.fixed_dictionaries({}, optional={"enabled": scalar, "min_play_seconds": scalar}),
        "speech": st.fixed_dictionaries({}, optional={"watch_terms": st.lists(st.text(max_size=5)) | scalar}),
        "typo_field": scalar,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            entry[key] = draw(strategy)
    if draw(st.integers(0, 9)) == 0:
        del entry[draw(st.sampled_from(["id", "name", "stream_url"]))]
    return entry, password


def _assert_valid_registry(registry: StationsFile, secrets: list[str]) -> None:
    ids = [s.id for s in registry.stations]
    assert len(ids) == len(set(ids))
    for station in registry.stations:
        # path-safe: one plain component, never '.', '..', a separator or upper case
        assert STATION_ID_PATTERN.fullmatch(station.id)
        assert "/" not in station.id and "\\" not in station.id and station.id not in {".", ".."}
        assert station.stream_url.lower().startswith(("http://", "https://"))
        redacted = station.safe_stream_url  # must not raise, whatever the URL looks like
        for secret in secrets:
            assert secret not in redacted


def _parse(text: str, secrets: list[str]) -> None:
    try:
        registry = parse_stations(text, "stations.yaml")
    except StationsFileError as exc:
        message = str(exc)
        assert message.startswith("stations.yaml")
        for secret in secrets:
            assert secret not in message, f"password leaked in: {message}"
        return
    _assert_valid_registry(registry, secrets)


@FUZZ
@given(st.lists(station_entries(), min_size=0, max_size=4), st.booleans())
def test_structured_registries_parse_or_fail_cleanly(
    entries: list[tuple[dict, str | None]], dup: bool
) -> None:
    items = [e for e, _ in entries]
    if dup and items:
        items.append(dict(items[0]))
    secrets = [p for _, p in entries if p]
    _parse(yaml.safe_dump({"stations": items}, sort_keys=False, allow_unicode=True), secrets)


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_fails_cleanly(text: str) -> None:
    _parse(text, [])


@FUZZ
@given(
    st.lists(station_entries(), min_size=1, max_size=3),
    st.integers(0, 400),
    st.sampled_from("[{:\t'\"&*!%@`"),
)
def test_broken_yaml_never_shows_a_password(
    entries: list[tuple[dict, str | None]], cut: int, junk: str
) -> None:
    """Damage valid YAML near the password so that the parser's error points at that line."""
    text = yaml.safe_dump({"stations": [e for e, _ in entries]}, sort_keys=False)
    cut = min(cut, len(text))
    secrets = [p for _, p in entries if p]
    _parse(text[:cut] + junk + text[cut:], secrets)


# Regular tests for the bugs the properties found (fixed in pige_pipeline/stations.py).


def _one(extra: str) -> str:
    return f"stations:\n  - id: a\n    name: A\n{extra}"


@pytest.mark.parametrize("zone", ["America", "a" * 300])
def test_directory_or_overlong_timezone_is_a_stations_error(zone: str) -> None:
    with pytest.raises(StationsFileError, match="field 'timezone': unknown timezone"):
        parse_stations(_one(f"    stream_url: http://h/a\n    timezone: {zone}\n"))


@pytest.mark.parametrize("port", ["99999", "x"])
def test_bad_port_is_refused_and_redaction_never_raises(port: str) -> None:
    url = f"http://u:pwSecret1Z@h:{port}/a"
    with pytest.raises(StationsFileError, match="port") as exc:
        parse_stations(_one(f"    stream_url: {url}\n"))
    assert "pwSecret1Z" not in str(exc.value)
    assert redact_url(url) == f"http://u:***@h:{port}/a"


def test_yaml_syntax_error_on_the_password_line_hides_it() -> None:
    text = _one("    stream_url: http://u:pwSecret1Z@h/a\n    x: [\n")
    with pytest.raises(StationsFileError, match="not valid YAML") as exc:
        parse_stations(text)
    assert "pwSecret1Z" not in str(exc.value)
    text = _one("    stream_url: 'http://u:pwSecret1Z@h/a\n")  # unterminated quote
    with pytest.raises(StationsFileError, match="line") as exc:
        parse_stations(text)
    assert "pwSecret1Z" not in str(exc.value)
