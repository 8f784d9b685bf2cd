"""The ffmpeg command line that records one station: stream copy into clock-aligned segments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pige_pipeline.stations import Station, check_stream_url

# What http(s) and HLS need, nothing that reads local files: HLS playlists pull segments over
# http/https (tcp, tls underneath) and AES-128 encrypted segments go through `crypto`. `file`,
# `concat`, `subfile`, `pipe` and the rest are refused by ffmpeg itself, even from inside a playlist.
PROTOCOL_WHITELIST = "http,https,tcp,tls,crypto"

# codec -> (file extension, segment format) for streams stored as they are.
STORED_AS_IS: dict[str, tuple[str, str]] = {
    "mp3": ("mp3", "mp3"),
    "aac": ("aac", "adts"),
    "opus": ("opus", "ogg"),
    "vorbis": ("ogg", "ogg"),
    "flac": ("flac", "flac"),
}
# `reencode` encoder -> (file extension, segment format).
ENCODERS: dict[str, tuple[str, str]] = {
    "libmp3lame": ("mp3", "mp3"),
    "aac": ("aac", "adts"),
    "libopus": ("opus", "ogg"),
    "libvorbis": ("ogg", "ogg"),
    "flac": ("flac", "flac"),
}
LIVE_SAMPLE_RATE = 8000


class UnsupportedStreamError(ValueError):
    """The stream's codec cannot be stored as-is and the station asks for no re-encoding."""


# codec -> ffmpeg demuxer, for a stream whose Content-Type named its codec. Naming the demuxer
# matters: a listener joins a live MP3 stream mid-frame, and a short format probe then sometimes
# fails ("Invalid data found") where the MP3 demuxer resyncs on the next frame.
DEMUXERS = {"mp3": "mp3", "aac": "aac", "flac": "flac"}


@dataclass(frozen=True)
class OutputFormat:
    ext: str
    segment_format: str
    encoder: str | None  # None: stream copy
    input_format: str | None = None  # ffmpeg demuxer to force, when the stream's codec is known


def output_format(station: Station, codec: str | None, input_format: str | None = None) -> OutputFormat:
    """How a station's stream is stored: as-is where the codec allows, else its `reencode` setting."""
    if station.reencode:
        if station.reencode not in ENCODERS:
            raise UnsupportedStreamError(
                f"station {station.id!r}: reencode {station.reencode!r} is not supported; "
                f"use one of {', '.join(sorted(ENCODERS))}"
            )
        ext, fmt = ENCODERS[station.reencode]
        return OutputFormat(ext, fmt, station.reencode, input_format)
    if codec in STORED_AS_IS:
        ext, fmt = STORED_AS_IS[codec]
        return OutputFormat(ext, fmt, None, input_format)
    raise UnsupportedStreamError(
        f"station {station.id!r}: stream codec {codec or 'unknown'!r} cannot be stored as-is; "
        f"set `reencode:` in stations.yaml (for example 'libmp3lame')"
    )


def record_command(
    station: Station,
    fmt: OutputFormat,
    session_dir: Path,
    segment_list: Path,
    segment_seconds: int,
    *,
    live_sample_rate: int | None = None,
    live_url: str | None = None,
    rw_timeout_s: float = 10.0,
) -> list[str]:
    """ffmpeg arguments: read the stream, cut segments on the UTC clock, optionally mono PCM to `live_url`.

    Log level `verbose` makes ffmpeg print each ICY title change (see nowplaying.py).
    ffmpeg's own reconnect options are not used: a dropped connection ends the process, so every
    process holds one continuous stretch of audio and the recorder knows exactly where each gap is.
    The process must run with TZ=UTC: `-strftime` and `-segment_atclocktime` use local time.
    """
    check_stream_url(station.stream_url)
    args = [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "verbose",
        "-protocol_whitelist", PROTOCOL_WHITELIST,
        "-rw_timeout", str(int(rw_timeout_s * 1_000_000)),
        # ffmpeg's default format probe waits for ~8 s of a live MP3 stream before writing anything;
        # a short probe gets the first segment going sooner (its start is measured, not guessed).
        "-formatprobesize", "16384", "-probesize", "32768", "-analyzeduration", "1000000",
        *(["-f", fmt.input_format] if fmt.input_format else []),
        "-i", station.stream_url,
        "-map", "0:a:0", "-vn",
    ]  # fmt: skip
    if fmt.encoder:
        args += ["-c:a", fmt.encoder]
    else:
        args += ["-c:a", "copy"]
    args += [
        # flush_packets=1: each packet reaches the segment file at once. By default a segment's muxer
        # holds 32 KB (8 s at 32 kb/s), all of it lost when ffmpeg is SIGKILLed (docs/reliability.md).
        "-f", "segment", "-segment_format", fmt.segment_format,
        "-segment_format_options", "flush_packets=1",
        "-segment_atclocktime", "1", "-segment_time", str(segment_seconds),
        "-reset_timestamps", "1", "-strftime", "1",
        "-segment_list", str(segment_list), "-segment_list_type", "csv",
        str(session_dir / f"%Y%m%dT%H%M%SZ.{fmt.ext}"),
    ]  # fmt: skip
    if live_sample_rate and live_url:
        args += ["-map", "0:a:0", "-ac", "1", "-ar", str(live_sample_rate), "-f", "s16le", live_url]
    return args


def scrub(text: str, url: str) -> str:
    """`text` (an ffmpeg message, say) with the URL's password masked, wherever it appears."""
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return text
    if not password:
        return text
    for secret in {password, unquote(password)}:
        text = text.replace(secret, "***")
    return text
