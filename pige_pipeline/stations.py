"""The station registry: `stations.yaml`, validated so that a station engineer can fix it from the message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Lower-case letters, digits, '-' and '_', starting with a letter or digit: safe as a path component,
# a Parquet column value and a Dagster tag on every filesystem we care about.
STATION_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ALLOWED_STREAM_SCHEMES = ("http", "https")
# Recorder groups share the station id's alphabet: a group becomes a Dagster tag, part of a run key and
# an entry of the comma-separated PIGE_RECORDER_GROUPS / `pige record --groups` lists.
RECORDER_GROUP_PATTERN = STATION_ID_PATTERN
DEFAULT_RECORDER_GROUP = "default"


class StationsFileError(ValueError):
    """`stations.yaml` cannot be used; the message names the file, the station and the field."""


class SilenceSettings(BaseModel):
    """Dead-air thresholds for one station."""

    model_config = ConfigDict(extra="forbid")

    threshold_db: float = Field(-50.0, le=0, description="Level in dBFS below which audio counts as silence.")
    min_seconds: float = Field(2.0, gt=0, description="Shortest silence recorded in `silences`.")
    alert_seconds: float = Field(5.0, gt=0, description="Silences at least this long become dead-air alerts.")
    warning_seconds: float = Field(15.0, gt=0, description="Alerts at least this long are `warning`.")
    critical_seconds: float = Field(60.0, gt=0, description="Alerts at least this long are `critical`.")
    live_alerts: bool = Field(
        True, description="Page within a minute of dead air while recording; false opts the station out."
    )

    @model_validator(mode="after")
    def _ordered(self) -> SilenceSettings:
        if not self.alert_seconds <= self.warning_seconds <= self.critical_seconds:
            raise ValueError("alert_seconds <= warning_seconds <= critical_seconds must hold")
        return self


class AirplaySettings(BaseModel):
    """Music-recognition settings for one station."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    min_play_seconds: float = Field(10.0, gt=0, description="Shorter matches are not reported as plays.")


class SpeechSettings(BaseModel):
    """Transcription settings for one station."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    watch_terms: list[str] = Field(default_factory=list, description="Words whose mentions are reported.")


class Station(BaseModel):
    """One monitored station."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Short, path-safe identifier: lower-case letters, digits, '-' and '_'.")
    name: str = Field(min_length=1, description="Display name.")
    stream_url: str = Field(description="http(s) URL of the live stream (Icecast, Shoutcast or HLS).")
    timezone: str = Field("UTC", description="IANA timezone of the station, for local-time reports.")
    language: str | None = Field(
        None, description="ISO 639-1 code of the spoken language, or null to detect."
    )
    enabled: bool = True
    retention_days: int = Field(90, ge=1, description="Audio older than this is deleted by retention.")
    reencode: str | None = Field(
        None, description="ffmpeg audio codec to re-encode to (for example 'libmp3lame'); null stores as-is."
    )
    recorder_group: str = Field(
        DEFAULT_RECORDER_GROUP,
        description="Recorder shard that records this station (one recorder run per group).",
    )
    silence: SilenceSettings = Field(default_factory=SilenceSettings)
    airplay: AirplaySettings = Field(default_factory=AirplaySettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)

    @field_validator("id")
    @classmethod
    def _path_safe_id(cls, value: str) -> str:
        if not STATION_ID_PATTERN.fullmatch(value):
            raise ValueError(
                f"station id {value!r} is not allowed: use 1-64 lower-case letters, digits, '-' or '_', "
                "starting with a letter or digit (it becomes a directory name)"
            )
        return value

    @field_validator("stream_url")
    @classmethod
    def _stream_url(cls, value: str) -> str:
        check_stream_url(value)
        return value

    @field_validator("recorder_group")
    @classmethod
    def _path_safe_group(cls, value: str) -> str:
        if not RECORDER_GROUP_PATTERN.fullmatch(value):
            raise ValueError(
                f"recorder group {value[:80]!r} is not allowed: use 1-64 lower-case letters, digits, "
                "'-' or '_', starting with a letter or digit (it names recorder runs and their tags)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a directory of the zone database ('America') or a name too long for a file.
            raise ValueError(
                f"unknown timezone {value[:80]!r}: use an IANA name such as 'Europe/Paris'"
            ) from None
        return value

    @property
    def safe_stream_url(self) -> str:
        """The stream URL with any password masked, for logs and the UI."""
        return redact_url(self.stream_url)


class StationsFile(BaseModel):
    """The whole `stations.yaml`."""

    model_config = ConfigDict(extra="forbid")

    stations: Annotated[list[Station], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> StationsFile:
        seen: set[str] = set()
        for station in self.stations:
            if station.id in seen:
                raise ValueError(f"station id {station.id!r} appears twice: ids must be unique")
            seen.add(station.id)
        return self

    @property
    def enabled(self) -> list[Station]:
        return [s for s in self.stations if s.enabled]

    def get(self, station_id: str) -> Station:
        for station in self.stations:
            if station.id == station_id:
                return station
        raise KeyError(f"no station {station_id!r} in the registry")


def check_stream_url(url: str) -> None:
    """Refuse anything but http(s) URLs with a host, so no local-reading ffmpeg protocol gets in."""
    if any(ch.isspace() for ch in url) or "|" in url:
        raise ValueError(f"stream URL {redact_url(url)!r} contains whitespace or '|'")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_STREAM_SCHEMES:
        raise ValueError(
            f"stream URL {redact_url(url)!r} must start with http:// or https:// "
            f"(got scheme {parts.scheme or 'none'!r}); file:, concat: and other protocols are refused"
        )
    if not parts.hostname:
        raise ValueError(f"stream URL {redact_url(url)!r} has no host name")
    try:
        parts.port  # noqa: B018 - urllib checks the port only when it is read
    except ValueError:
        raise ValueError(f"stream URL {redact_url(url)!r} has an invalid port (use 1-65535)") from None


# `user:password@` where urlsplit sees no authority (no scheme, '://user:pw@host'): masked by pattern.
_LOOSE_PASSWORD = re.compile(r"(?P<head>(?:^|//)[^/?#@\s:]*:)[^/?#@\s]+@")
_URL_PASSWORD = re.compile(r"[^/?#@\s:]*:(?P<pw>[^/?#@\s]+)@")


def redact_url(url: str) -> str:
    """Mask the password of a URL's user-info part: `http://user:***@host/`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is not None:
        # The host and port are kept as written: reading `parts.port` raises on a bad port.
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{parts.username}:***@{host}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return _LOOSE_PASSWORD.sub(r"\g<head>***@", url)


def _hide_passwords(message: str, text: str) -> str:
    """Mask every URL password of the stations file that a parser message quotes back."""
    message = _LOOSE_PASSWORD.sub(r"\g<head>***@", message)
    for match in _URL_PASSWORD.finditer(text):
        if len(match.group("pw")) >= 4:  # shorter ones would mask ordinary words of the message
            message = message.replace(match.group("pw"), "***")
    return message


def _describe_error(path: Path, raw: Any, error: dict[str, Any]) -> str:
    loc = list(error["loc"])
    where = "top level"
    if len(loc) >= 2 and loc[0] == "stations" and isinstance(loc[1], int):
        index = loc[1]
        station_id = None
        if isinstance(raw, dict) and isinstance(raw.get("stations"), list) and index < len(raw["stations"]):
            entry = raw["stations"][index]
            if isinstance(entry, dict):
                station_id = entry.get("id")
        where = f"station #{index + 1}" + (f" ({station_id!r})" if station_id else "")
        loc = loc[2:]
    field = ".".join(str(p) for p in loc) or "(whole entry)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "this field is required"
    elif error["type"] == "extra_forbidden":
        message = "unknown field (check its spelling against the configuration reference in README.md)"
    return f"{path}: {where}, field '{field}': {message}"


def parse_stations(text: str, path: Path | str = "<stations.yaml>") -> StationsFile:
    """Parse and validate the YAML text of a stations file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The parser's own message quotes the offending line, which may hold a stream password.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise StationsFileError(_hide_passwords(f"{path}: not valid YAML{where}: {problem}", text)) from None
    if not isinstance(raw, dict) or "stations" not in raw:
        raise StationsFileError(f"{path}: expected a mapping with a 'stations:' list at the top level")
    try:
        return StationsFile.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe_error(path, raw, err) for err in exc.errors()]
        raise StationsFileError(_hide_passwords("\n".join(lines), text)) from None


def load_stations(path: Path | str) -> StationsFile:
    """Read and validate a stations file; raises `StationsFileError` with an actionable message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StationsFileError(f"{path}: file not found (set PIGE_STATIONS or pass --stations)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StationsFileError(f"{path}: cannot be read: {exc}") from None
    return parse_stations(text, path)
