"""Segments from ffmpeg's staging directory into the chunk store, named by the UTC start of their audio.

ffmpeg writes segments into `{data_root}/recorder/incoming/{station}/{session}/`, cut on the UTC
clock, and lists each complete one in the session's segment list; only then is it moved into the store,
by rename. Every segment after a process's first starts on a clock boundary, the name ffmpeg gave it;
the first one's start is its end minus its duration (see `recorder/station_loop.py`)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from pige_pipeline.audio.probe import AudioProbeError, probe_audio
from pige_pipeline.hours import utc
from pige_pipeline.store.chunks import chunk_path, publish_chunk

log = logging.getLogger(__name__)


_STAGED_NAME = re.compile(r"^(\d{8}T\d{6})Z\.([a-z0-9]+)$")

# -- staging and publishing ------------------------------------------------------------------------------


def incoming_dir(data_root: Path, station: str) -> Path:
    return data_root / "recorder" / "incoming" / station


def rejected_dir(data_root: Path) -> Path:
    return data_root / "recorder" / "rejected"


def publish_segment(
    src: Path, data_root: Path, station: str, start: datetime, duration_s: float
) -> Path | None:
    """Move a complete segment into the store under its start time; returns where it went.

    Two recorders overlap during a rotation and can both cut the same clock boundary. The longer of
    the two files is kept (the old run's last segment ends when it is stopped), atomically.
    """
    if src.stat().st_size == 0:
        # ffmpeg lists a segment as complete even when a full disk left it empty: there is no audio to
        # keep, and an empty chunk in the store would only look like a corrupt recording.
        log.error("%s: empty segment (disk full?), not published; the gap is in the gap log", src)
        src.unlink(missing_ok=True)
        return None
    dest = chunk_path(data_root, station, start, src.suffix)
    if not dest.exists():
        try:
            return publish_chunk(src, data_root, station, start)
        except FileExistsError:
            pass
    try:
        existing = probe_audio(dest).duration_s
    except AudioProbeError:
        existing = 0.0
    if duration_s > existing + 0.5:
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.move(str(src), tmp)
        os.replace(tmp, dest)
        log.info(
            "%s: replaced a shorter copy (%.1f s) by %.1f s (rotation overlap)", dest, existing, duration_s
        )
        return dest
    log.info("%s already holds this audio (%.1f s >= %.1f s); duplicate dropped", dest, existing, duration_s)
    src.unlink(missing_ok=True)
    return None


# Headers (ID3 + Xing/Info, ~460 bytes for MP3) and one or two frames: less than 0.1 s at 128 kb/s.
SLIVER_BYTES = 2048
# A segment's held and listed durations differ by a frame or two; more than this is a short (or long) one.
LISTED_TOLERANCE_S = 0.5


def held_duration(path: Path, listed_s: float, data_root: Path, station: str) -> float:
    """Seconds of audio a finished segment really holds (0 if it holds none: it is removed or moved aside).

    ffmpeg lists the time it received even when a full disk refused part of the writes, or all of
    them: the gap must start where the audio ends, not where the list says. What a file holds is
    measured without decoding it: its size (an empty file holds nothing), then one ffprobe, which reads
    the headers and, for MP3, bounds the duration by size / bitrate (`probe_audio`; a truncated file
    keeps a header that promises the full length). A full decode would cost a second pass over every
    segment of every station for a fault that leaves the file short, which those two already see.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return 0.0  # gone: nothing to publish
    if size == 0:
        # Listed, yet the full disk refused every write: it holds 0 s, not the seconds ffmpeg received
        # (counting them put the station's audio end, and its gap's start, after audio that is not there).
        log.error(
            "station %r: segment %s is empty (%.1f s listed; disk full?); not published, the gap is logged",
            station,
            path.name,
            listed_s,
        )
        path.unlink(missing_ok=True)
        return 0.0
    try:
        held = probe_audio(path).duration_s
    except AudioProbeError as exc:
        if size < SLIVER_BYTES:
            # A segment opened just before ffmpeg stopped holds its headers and a frame at most, which
            # ffprobe cannot read: a few milliseconds, not a corrupt recording worth an error.
            log.info("station %r: segment %s has no whole frame (%d B); dropped", station, path.name, size)
            path.unlink(missing_ok=True)
            return 0.0
        target = rejected_dir(data_root) / station / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target)
        log.error(
            "station %r: segment %s is not readable audio (%s); moved to %s", station, path.name, exc, target
        )
        return 0.0
    if held < listed_s - LISTED_TOLERANCE_S:
        log.warning(
            "station %r: segment %s holds %.1f s of the %.1f s ffmpeg received (disk full?)",
            station,
            path.name,
            held,
            listed_s,
        )
        return held
    if held > listed_s + LISTED_TOLERANCE_S:
        # ffmpeg's list is the span of the packets' timestamps; a stream whose timestamps jump (an
        # encoder restart upstream) holds more audio than that span, and the store keeps what it holds.
        log.info("station %r: segment %s holds %.1f s, %.1f s listed", station, path.name, held, listed_s)
        return held
    return listed_s


def staged_time(path: Path) -> datetime | None:
    match = _STAGED_NAME.match(path.name)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def snap_to_boundary(moment: datetime, segment_seconds: int, tolerance_s: float = 2.0) -> datetime:
    """The clock boundary nearest `moment` when within `tolerance_s` (ffmpeg names a file after the
    wall clock when it opens it, which lands a few milliseconds either side of the boundary)."""
    epoch = utc(moment).timestamp()
    nearest = round(epoch / segment_seconds) * segment_seconds
    if abs(epoch - nearest) <= tolerance_s:
        return datetime.fromtimestamp(nearest, UTC)
    return utc(moment)


def split_at_boundaries(
    path: Path, start: datetime, duration_s: float, segment_seconds: int
) -> list[tuple[Path, datetime, float]]:
    """Cut a segment that runs over a clock boundary into pieces that do not (stream copy).

    ffmpeg misses the first boundary when a connection starts less than its probe time before it:
    the probed packets are written after the boundary has passed. A chunk must not run into the next
    hour, since readers only look for chunks that start inside an hour.
    """
    begin = utc(start).timestamp()
    end = begin + duration_s
    cuts = []
    boundary = (int(begin // segment_seconds) + 1) * segment_seconds
    while boundary < end - 0.2:
        if boundary - begin > 0.2:
            cuts.append(boundary - begin)
        boundary += segment_seconds
    if not cuts:
        return [(path, utc(start), duration_s)]
    pieces: list[tuple[Path, datetime, float]] = []
    edges = [0.0, *cuts, duration_s]
    for index, (a, b) in enumerate(zip(edges, edges[1:], strict=False)):
        piece = path.with_name(f"{path.stem}.part{index}{path.suffix}")
        cmd = [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-ss",
            f"{a:.3f}",
            "-i",
            str(path),
        ]
        if index < len(edges) - 2:
            cmd += ["-t", f"{b - a:.3f}"]
        cmd += ["-map", "0:a:0", "-c", "copy", str(piece)]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0 or not piece.exists():
            for made, _s, _d in pieces:
                made.unlink(missing_ok=True)
            log.warning("%s: could not split at the clock boundary; kept whole", path)
            return [(path, utc(start), duration_s)]
        pieces.append((piece, datetime.fromtimestamp(begin + a, UTC), b - a))
    path.unlink(missing_ok=True)
    return pieces


def read_segment_list(path: Path) -> list[tuple[str, float, float]]:
    """Complete segments of a session, as ffmpeg's CSV segment list gives them: (name, start, end)."""
    entries = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return entries
    for line in text.splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) != 3:
            continue
        with contextlib.suppress(ValueError):
            entries.append((parts[0].strip('"'), float(parts[1]), float(parts[2])))
    return entries
