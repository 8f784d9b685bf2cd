"""Check a live stream: reachable, codec, bitrate, ICY name, time to first byte (`pige stations probe`)."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import subprocess
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit, urlunsplit

from pige_pipeline.recorder.command import PROTOCOL_WHITELIST, scrub
from pige_pipeline.stations import check_stream_url, redact_url


@dataclass
class StreamProbe:
    """What one stream looks like right now; `error` says why it is unusable (None when fine)."""

    url: str  # redacted
    reachable: bool = False
    http_status: int | None = None
    content_type: str | None = None
    icy_name: str | None = None
    icy_metaint: int | None = None
    ttfb_s: float | None = None
    codec: str | None = None
    bitrate: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def open_stream(
    url: str, timeout_s: float, headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """GET `url` (following up to 5 redirects), credentials from the URL sent as basic auth."""
    for _ in range(6):
        check_stream_url(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
        conn: http.client.HTTPConnection
        if parts.scheme.lower() == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout_s, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        sent = {"User-Agent": "pige-recorder/0.1", **(headers or {})}
        if parts.username is not None:
            token = f"{parts.username}:{parts.password or ''}".encode()
            sent["Authorization"] = "Basic " + base64.b64encode(token).decode()
        conn.request("GET", path, headers=sent)
        resp = conn.getresponse()
        if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
            location = resp.getheader("Location") or ""
            conn.close()
            url = (
                location if "://" in location else urlunsplit((parts.scheme, parts.netloc, location, "", ""))
            )
            continue
        return conn, resp
    raise OSError(f"too many redirects for {redact_url(url)}")


def stream_answers(url: str, timeout_s: float = 1.0) -> bool:
    """Whether the stream answers a GET with 200 right now: one request, closed after its headers.

    Far cheaper than starting ffmpeg (no process, no format probe), so a station in an outage can be
    asked often and reconnected as soon as its stream is back (`StationRecorder._await_stream`).
    """
    try:
        conn, resp = open_stream(url, timeout_s)
    except (TimeoutError, OSError, http.client.HTTPException, ValueError):
        return False
    try:
        return resp.status == 200
    finally:
        conn.close()


def probe_stream(url: str, timeout_s: float = 15.0) -> StreamProbe:
    """Connect once for the HTTP facts and time to first byte, then ffprobe the codec."""
    result = StreamProbe(url=redact_url(url))
    try:
        check_stream_url(url)
    except ValueError as exc:
        result.error = str(exc)
        return result
    started = time.monotonic()
    try:
        conn, resp = open_stream(url, timeout_s, {"Icy-MetaData": "1"})
        try:
            result.http_status = resp.status
            result.content_type = resp.getheader("Content-Type")
            result.icy_name = resp.getheader("icy-name")
            metaint = resp.getheader("icy-metaint")
            result.icy_metaint = int(metaint) if metaint and metaint.isdigit() else None
            if resp.status != 200:
                result.error = f"HTTP {resp.status} {resp.reason} from {redact_url(url)}"
                return result
            resp.read(1)
            result.ttfb_s = round(time.monotonic() - started, 3)
            result.reachable = True
        finally:
            conn.close()
    except (TimeoutError, OSError, http.client.HTTPException, ValueError) as exc:
        result.error = f"cannot reach {redact_url(url)}: {scrub(str(exc), url) or type(exc).__name__}"
        return result
    stream, why = ffprobe_stream(url, timeout_s)
    if stream is None:
        result.error = why
        return result
    result.codec = stream.get("codec_name")
    result.sample_rate = _int(stream.get("sample_rate"))
    result.channels = _int(stream.get("channels"))
    result.bitrate = _int(stream.get("bit_rate"))
    return result


def ffprobe_stream(url: str, timeout_s: float = 15.0) -> tuple[dict | None, str]:
    """The first audio stream of a live URL as ffprobe sees it, or (None, reason)."""
    check_stream_url(url)
    cmd = [
        "ffprobe", "-v", "error", "-hide_banner", "-protocol_whitelist", PROTOCOL_WHITELIST,
        "-rw_timeout", str(int(timeout_s * 1_000_000)), "-formatprobesize", "16384",
        "-probesize", "32768", "-analyzeduration", "1000000", "-print_format", "json", "-show_streams",
        "-select_streams", "a:0", "-i", url,
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 5, check=False)
    except subprocess.TimeoutExpired:
        return None, f"ffprobe found no audio in {redact_url(url)} within {timeout_s:.0f} s"
    streams = (json.loads(proc.stdout or "{}") or {}).get("streams") or []
    if proc.returncode != 0 or not streams:
        reason = (proc.stderr.strip().splitlines() or ["no audio stream"])[-1]
        return None, f"{redact_url(url)}: no usable audio ({scrub(reason, url)})"
    return streams[0], ""


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


# Content types that name the codec, so the recorder need not spend a probe connection.
CONTENT_TYPE_CODECS = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/aac": "aac",
    "audio/aacp": "aac",
    "audio/x-aac": "aac",
    "audio/flac": "flac",
}


def detect_codec(url: str, timeout_s: float = 15.0) -> tuple[str | None, str, bool]:
    """(codec, reason, from_content_type): the codec from the Content-Type, else from ffprobe.

    The codec is None when the stream cannot be read, and `reason` then says why.
    """
    try:
        conn, resp = open_stream(url, timeout_s)
        try:
            status, content_type = resp.status, (resp.getheader("Content-Type") or "").split(";")[0].strip()
        finally:
            conn.close()
    except (TimeoutError, OSError, http.client.HTTPException, ValueError) as exc:
        return None, f"cannot reach {redact_url(url)}: {scrub(str(exc), url) or type(exc).__name__}", False
    if status != 200:
        return None, f"HTTP {status} from {redact_url(url)}", False
    if content_type.lower() in CONTENT_TYPE_CODECS:
        return CONTENT_TYPE_CODECS[content_type.lower()], "", True
    stream, why = ffprobe_stream(url, timeout_s)
    if stream is None:
        return None, why, False
    return str(stream.get("codec_name")), "", False
