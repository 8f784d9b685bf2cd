"""What each station's stream was last found to carry, so a restarted recorder connects at once.

Finding the codec costs an HTTP round trip before ffmpeg can start (Icecast answers a new listener in
about half a second), and every second before ffmpeg connects is audio lost after a crash. The
recorder starts a station with the codec its previous run found, checks the stream beside the
running ffmpeg, and restarts with the new codec if the station changed it.

`{data_root}/recorder/formats/{station}.json`: {"url_sha256", "codec", "from_header", "found_at"}.
The URL is stored as a hash: it may hold the stream's password.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pige_pipeline.recorder.state import write_json_atomic


@dataclass(frozen=True)
class StreamCodec:
    """The codec of a station's stream, and whether its Content-Type said so (ffprobe otherwise)."""

    codec: str
    from_header: bool


def formats_dir(data_root: Path) -> Path:
    return data_root / "recorder" / "formats"


def _url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def read_stream_codec(data_root: Path, station: str, url: str) -> StreamCodec | None:
    """The codec found last time for this station at this URL; None if unknown, unreadable or moved."""
    try:
        data = json.loads((formats_dir(data_root) / f"{station}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("url_sha256") != _url_hash(url):
        return None
    codec = data.get("codec")
    if not isinstance(codec, str) or not codec:
        return None
    return StreamCodec(codec, bool(data.get("from_header")))


def write_stream_codec(data_root: Path, station: str, url: str, found: StreamCodec) -> None:
    """Remember what the stream carries (best effort: a full disk must not stop a recording)."""
    with contextlib.suppress(OSError):
        write_json_atomic(
            formats_dir(data_root) / f"{station}.json",
            {
                "url_sha256": _url_hash(url),
                "codec": found.codec,
                "from_header": found.from_header,
                "found_at": datetime.now(UTC).isoformat(),
            },
        )
