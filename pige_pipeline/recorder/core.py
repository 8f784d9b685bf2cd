"""The recorder core: one ffmpeg per enabled station, clock-aligned chunks, gaps, ICY titles, heartbeat.

How a chunk gets its name (the UTC start of its audio):
- ffmpeg writes segments into a staging directory outside `chunks/`
  (`{data_root}/recorder/incoming/{station}/{session}/`), cut on the UTC clock (`-segment_atclocktime`),
  and appends a line to the session's segment list when a segment is complete. Only then is the file
  moved into the store, by rename.
- Every segment after the first starts on a clock boundary, which is the name ffmpeg gave it.
- The first segment of each ffmpeg process starts when the stream connected, which ffmpeg cannot name
  (it names a file after probing the input). Its start is its end (the next segment's boundary, or
  the moment the process ended) minus its duration: exact to the arrival jitter of one packet.

A gap is the time between the end of one process's audio and the start of the next one's. It is
logged open (end null) when a stream drops, with a provisional end when audio flows again, and with
its exact end once the first new segment is complete (readers keep the latest line).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from pydantic import ValidationError

from pige_pipeline.audio.probe import AudioProbeError, probe_audio
from pige_pipeline.gaps import Gap, append_gap, gap_log_path, read_gap_log
from pige_pipeline.hours import utc
from pige_pipeline.recorder.command import (
    DEMUXERS,
    LIVE_SAMPLE_RATE,
    OutputFormat,
    UnsupportedStreamError,
    output_format,
    record_command,
    scrub,
)
from pige_pipeline.recorder.formats import StreamCodec, read_stream_codec, write_stream_codec
from pige_pipeline.recorder.groups import in_groups
from pige_pipeline.recorder.live import LiveAudioSink, LiveDispatcher, PcmReceiver, read_blocks
from pige_pipeline.recorder.nowplaying import NowPlaying, append_nowplaying, parse_title_line
from pige_pipeline.recorder.probe import detect_codec
from pige_pipeline.recorder.state import (
    RecorderState,
    read_states,
    stop_request_path,
    write_json_atomic,
    write_state,
)
from pige_pipeline.stations import STATION_ID_PATTERN, Station, StationsFileError, check_stream_url
from pige_pipeline.store import chunk_path, list_chunks, publish_chunk

log = logging.getLogger(__name__)

_OPENING = re.compile(r"Opening '(?P<path>[^']+)' for writing")
_STAGED_NAME = re.compile(r"^(\d{8}T\d{6})Z\.([a-z0-9]+)$")
# Lines of ffmpeg's stderr worth keeping as the reason a process ended.
_ERROR_HINT = re.compile(
    r"error|failed|refused|not found|denied|invalid|timed out|unreachable|\b[45]\d\d\b", re.I
)


@dataclass
class RecorderConfig:
    """Recorder settings; tests shorten `segment_seconds` and keep the same code path."""

    segment_seconds: int = 3600
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 5.0
    rw_timeout_s: float = 10.0
    heartbeat_s: float = 2.0
    poll_s: float = 0.25
    icy: bool = True
    live_sample_rate: int = LIVE_SAMPLE_RATE
    probe_timeout_s: float = 15.0
    stop_timeout_s: float = 10.0


@dataclass
class StationStats:
    """What one station's recording did in this process."""

    segments: int = 0
    seconds: float = 0.0
    sessions: int = 0
    gaps: list[Gap] = field(default_factory=list)
    titles: int = 0
    error: str | None = None


# -- loading stations leniently --------------------------------------------------------------------------


def load_recordable_stations(path: Path) -> tuple[list[Station], list[str]]:
    """Stations of `path` that can be recorded, and one message per station that cannot.

    Unlike `load_stations`, one bad entry (a `file:` URL, a typo) does not stop the others: the
    recorder must keep recording every station it can.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StationsFileError(f"{path}: file not found (set PIGE_STATIONS or pass --stations)") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise StationsFileError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("stations"), list):
        raise StationsFileError(f"{path}: expected a mapping with a 'stations:' list at the top level")
    stations: list[Station] = []
    errors: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw["stations"], 1):
        label = f"station #{index}" + (f" ({entry.get('id')!r})" if isinstance(entry, dict) else "")
        try:
            station = Station.model_validate(entry)
        except ValidationError as exc:
            why = "; ".join(_field_error(e) for e in exc.errors())
            errors.append(f"{path}: {label} is not recorded: {why}")
            continue
        if station.id in seen:
            errors.append(f"{path}: {label}: id appears twice; the second entry is not recorded")
            continue
        seen.add(station.id)
        if station.enabled:
            stations.append(station)
    return stations, errors


def _field_error(error: dict) -> str:
    field_name = ".".join(str(p) for p in error["loc"]) or "(entry)"
    return f"field '{field_name}': {error['msg'].removeprefix('Value error, ')}"


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


def held_duration(path: Path, listed_s: float, data_root: Path, station: str) -> float:
    """Seconds of audio a finished segment really holds (0 if it is not audio: it is moved aside).

    ffmpeg lists the time it received even when a full disk refused part of the writes; the gap
    must start where the audio ends, not where the list says.
    """
    try:
        held = probe_audio(path).duration_s
    except AudioProbeError as exc:
        size = path.stat().st_size
        if size == 0:
            return listed_s  # publish_segment drops it and says so
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
    if held < listed_s - 0.5:
        log.warning(
            "station %r: segment %s holds %.1f s of the %.1f s ffmpeg received (disk full?)",
            station,
            path.name,
            held,
            listed_s,
        )
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


def salvage_orphans(data_root: Path, live_recorders: set[str]) -> list[Path]:
    """Publish what dead recorders left in staging: complete segments and the one being written.

    An ffmpeg outlives a recorder killed with SIGKILL; the next recorder adopts it (see
    `StationRecorder._adopt_orphan`) or stops it (`stop_orphans`), and what such a session holds once
    its ffmpeg has exited is published here. A segment's start is the file's name for any segment after
    the first, or its last write time minus its duration for a first segment. Unreadable leftovers are
    moved to `recorder/rejected/`, never into the store.
    """
    published: list[Path] = []
    root = data_root / "recorder" / "incoming"
    if not root.is_dir():
        return published
    for session in sorted(root.glob("*/*")):
        if not session.is_dir():
            continue
        info = _read_json(session / "session.json")
        # The directory is named `{recorder_id}-{session}`: a live recorder's session is skipped even
        # in the instant between its creation and its session.json.
        if {info.get("recorder_id"), session.name.rsplit("-", 1)[0]} & live_recorders:
            continue
        if info.get("ffmpeg_pid") and _process_alive(int(info["ffmpeg_pid"])):
            continue  # ffmpeg outlived its recorder: wait until it has closed its file
        station = session.parent.name
        if not STATION_ID_PATTERN.fullmatch(station):
            continue
        listed = [name for name, _s, _e in read_segment_list(session / "segments.csv")]
        names = sorted(set(listed) | {p.name for p in session.iterdir() if staged_time(p)})
        for index, name in enumerate(names):
            path = session / name
            if not path.exists():
                continue
            try:
                duration = probe_audio(path).duration_s
            except AudioProbeError as exc:
                target = rejected_dir(data_root) / station / f"{session.name}-{name}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(path), target)
                log.warning(
                    "station %r: leftover %s is not usable audio (%s); moved to %s",
                    station,
                    name,
                    exc,
                    target,
                )
                continue
            first = index == 0 and not info.get("published_first")
            start = (
                datetime.fromtimestamp(path.stat().st_mtime, UTC) - timedelta(seconds=duration)
                if first
                else staged_time(path)
            )
            assert start is not None
            dest = publish_segment(path, data_root, station, _round_s(start), duration)
            if dest:
                published.append(dest)
                log.info(
                    "station %r: salvaged %s (%.1f s) from a stopped recorder", station, dest.name, duration
                )
        shutil.rmtree(session, ignore_errors=True)
    return published


def orphan_sessions(data_root: Path, live_recorders: set[str]) -> list[tuple[Path, dict]]:
    """Staging sessions of recorders that are gone, whose ffmpeg still records: (directory, session.json)."""
    found = []
    for session in sorted((data_root / "recorder" / "incoming").glob("*/*")):
        info = _read_json(session / "session.json")
        owner_pid = info.get("recorder_pid")
        # A recorder restarted under the same id (`pige record --recorder-id`) is a new process.
        owner_gone = owner_pid is not None and not _process_alive(int(owner_pid))
        owned = {info.get("recorder_id"), session.name.rsplit("-", 1)[0]} & live_recorders
        if not info or (owned and not owner_gone):
            continue
        if info.get("ffmpeg_pid") and _records_in(int(info["ffmpeg_pid"]), session):
            found.append((session, info))
    return found


def stop_orphans(data_root: Path, live_recorders: set[str], timeout_s: float = 10.0) -> list[Path]:
    """Stop (SIGINT) the ffmpegs of dead recorders that nobody adopted; wait for them to close their files.

    They are left by a recorder killed outright for a station that was removed, disabled or given a new
    URL meanwhile, or by a second crash before the first orphan was adopted.
    """
    orphans = orphan_sessions(data_root, live_recorders)
    for session, info in orphans:
        log.warning("%s: stopping an ffmpeg left by a dead recorder that no station adopted", session)
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(info["ffmpeg_pid"]), signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_records_in(int(i["ffmpeg_pid"]), d) for d, i in orphans):
        time.sleep(0.1)
    return [session for session, _info in orphans]


def last_recorded_end(data_root: Path, station: str, before: datetime) -> datetime | None:
    """End of the newest chunk of `station` that starts before `before` (looking back two days)."""
    chunks = list_chunks(data_root, station, before - timedelta(days=2), before)
    for chunk in reversed(chunks):
        try:
            return chunk.start + timedelta(seconds=probe_audio(chunk.path).duration_s)
        except AudioProbeError:
            continue
    return None


def open_gaps(data_root: Path, station: str, now: datetime) -> list[Gap]:
    """Gaps of `station` still open (end null) in the last two days' log, by their latest line."""
    latest: dict[datetime, Gap] = {}
    for days_back in (2, 1, 0):
        for gap in read_gap_log(gap_log_path(data_root, station, now - timedelta(days=days_back))):
            latest[gap.start] = gap
    return [g for g in latest.values() if g.end is None]


# -- one station -----------------------------------------------------------------------------------------


class StationRecorder(threading.Thread):
    """Records one station: runs ffmpeg, publishes its segments, restarts it with capped backoff."""

    def __init__(self, recorder: Recorder, station: Station) -> None:
        super().__init__(name=f"rec-{station.id}", daemon=True)
        self.recorder = recorder
        self.station = station
        self.config = recorder.config
        self.data_root = recorder.data_root
        self.stop_event = threading.Event()
        self.stats = StationStats()
        self.status = "starting"
        self.since = datetime.now(UTC)
        self.last_segment: str | None = None
        self.last_segment_end: datetime | None = None
        self.error: str | None = None
        # The group this station moved to while this recorder hands it over (see Recorder._hand_over_moved).
        self.moving_to: str | None = None
        self._format: OutputFormat | None = None
        self._pending_gap: Gap | None = None  # logged open; closed when audio is back
        self._first_session = True
        self._codec_checked = False  # the stream itself was asked, not only the last run's record
        self._killed = False  # the last ffmpeg ended by a signal (killed), not by its stream ending
        self._proc: subprocess.Popen[bytes] | None = None
        # Set once the first ffmpeg is running (or the first attempt ended): salvage waits for it.
        self.launched = threading.Event()
        self._last_title: str | None = None
        self._session_index = 0

    # public -------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Close the current segment cleanly (SIGINT to ffmpeg) and end the thread."""
        self.stop_event.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)

    def state(self) -> dict:
        return {
            "status": self.status,
            "since": self.since.isoformat(),
            "last_segment": self.last_segment,
            "last_segment_end": self.last_segment_end.isoformat() if self.last_segment_end else None,
            "segments": self.stats.segments,
            "error": self.error,
            "group": self.station.recorder_group,
            "moving_to": self.moving_to,
        }

    # thread -------------------------------------------------------------------------------------------

    def run(self) -> None:
        delay = self.config.backoff_initial_s
        first = True
        while not self.stop_event.is_set():
            try:
                had_audio_s = self._adopt_orphan() if first else None
                first = False
                if had_audio_s is None:
                    had_audio_s = self._session()
            except UnsupportedStreamError as exc:
                self._fail(str(exc))
                had_audio_s = 0.0
                delay = self.config.backoff_max_s
            except Exception as exc:  # a station's bug must never take the others down
                log.exception("station %r: recorder error", self.station.id)
                self._fail(f"{type(exc).__name__}: {exc}")
                had_audio_s = 0.0
            self.launched.set()
            if self.stop_event.is_set():
                break
            if had_audio_s > 10:
                delay = self.config.backoff_initial_s
                if self._killed:
                    # Our ffmpeg died by a signal, the stream did not: every second spent waiting is audio
                    # lost. A stream that ended waits the first backoff step: reconnecting at once can
                    # reach a server that is shutting down, and then hangs until -rw_timeout (10 s).
                    continue
            self.stop_event.wait(delay)
            delay = min(delay * 2, self.config.backoff_max_s)
        self.status = "stopped"

    def _fail(self, message: str) -> None:
        self.error = message
        self.status = "error"
        self.stats.error = message
        self._open_gap(datetime.now(UTC), "stream_unreachable", message)

    def _session(self) -> float:
        """One ffmpeg process from start to exit; returns the seconds of audio it recorded."""
        station = self.station
        check_stream_url(station.stream_url)
        assumed: StreamCodec | None = None  # last run's codec, checked beside the running ffmpeg
        if self._format is None:
            found = None
            if not self._codec_checked:
                found = assumed = read_stream_codec(self.data_root, station.id, station.stream_url)
            if found is None:
                codec, why, from_header = detect_codec(station.stream_url, self.config.probe_timeout_s)
                if codec is None:
                    self._fail(why)
                    return 0.0
                found = StreamCodec(codec, from_header)
                write_stream_codec(self.data_root, station.id, station.stream_url, found)
            self._codec_checked = True
            self._format = output_format(
                station, found.codec, DEMUXERS.get(found.codec) if found.from_header else None
            )
        fmt = self._format
        self._session_index += 1
        session_dir = (
            incoming_dir(self.data_root, station.id)
            / f"{self.recorder.recorder_id}-{self._session_index:05d}"
        )
        session_dir.mkdir(parents=True, exist_ok=True)
        seg_list = session_dir / "segments.csv"
        # Live audio costs a decode: only for stations the live monitor watches (silence.live_alerts).
        live = self.recorder.dispatcher is not None and station.silence.live_alerts
        receiver = PcmReceiver() if live else None
        cmd = record_command(
            station,
            fmt,
            session_dir,
            seg_list,
            self.config.segment_seconds,
            live_sample_rate=self.config.live_sample_rate if receiver else None,
            live_url=receiver.url if receiver else None,
            rw_timeout_s=self.config.rw_timeout_s,
        )
        spawned = datetime.now(UTC)
        log_path = session_dir / "ffmpeg.log"
        with open(log_path, "wb") as log_file:
            # No PR_SET_PDEATHSIG: an ffmpeg outlives a recorder killed outright and keeps recording
            # until the next recorder adopts it, so a recorder crash or restart loses no audio.
            try:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    # A file, not a pipe: ffmpeg must go on writing its log after the recorder is gone.
                    stderr=log_file,
                    env={**os.environ, "TZ": "UTC"},
                )
            except OSError:
                if receiver is not None:
                    receiver.discard()
                raise
        self._proc = proc
        self.launched.set()
        self.stats.sessions += 1
        write_json_atomic(
            session_dir / "session.json",
            {
                "recorder_id": self.recorder.recorder_id,
                "recorder_pid": os.getpid(),
                "station": station.id,
                "ffmpeg_pid": proc.pid,
                "spawned_at": spawned.isoformat(),
                "ext": fmt.ext,
                "live_port": receiver.port if receiver else None,
            },
        )
        if self.stop_event.is_set():  # stop() ran before the process existed
            proc.send_signal(signal.SIGINT)
        if assumed is not None:  # not joined: the session's end must not wait for a slow answer
            threading.Thread(
                target=self._check_codec, args=(assumed, proc), name=f"codec-{station.id}", daemon=True
            ).start()
        return self._follow(proc, session_dir, spawned, receiver, assumed=assumed)

    def _adopt_orphan(self) -> float | None:
        """Follow an ffmpeg that a dead recorder left recording this station; None if there is none.

        The ffmpeg never stopped, so nothing was lost: its segments are published from where the dead
        recorder left off, and its stream's end is handled like any session's.
        """
        live_ids = self.recorder.live_recorder_ids()
        station = self.station
        for session_dir, info in reversed(orphan_sessions(self.data_root, live_ids)):
            if session_dir.parent.name != station.id:
                continue
            pid = int(info["ffmpeg_pid"])
            if station.stream_url.encode() not in _cmdline(pid):
                continue  # the station's URL changed while no recorder ran: stop_orphans ends it
            # Claim it first, so that salvage and stop_orphans leave it to this recorder.
            claimed = {
                **info,
                "recorder_id": self.recorder.recorder_id,
                "recorder_pid": os.getpid(),
                "adopted_from": info["recorder_id"],
            }
            write_json_atomic(session_dir / "session.json", claimed)
            receiver = None
            if self.recorder.dispatcher is not None and info.get("live_port"):
                try:
                    receiver = PcmReceiver(int(info["live_port"]))
                except OSError as exc:
                    log.warning("station %r: no live audio from the adopted ffmpeg (%s)", station.id, exc)
            self._proc = handle = _AdoptedProcess(pid, session_dir)
            self._session_index += 1
            self.stats.sessions += 1
            self.launched.set()
            if info.get("published_first"):
                self._first_session = False  # its start was published and its gaps closed by the dead one
            spawned = datetime.fromisoformat(info["spawned_at"]) if info.get("spawned_at") else _now()
            self.recorder.on_event(
                f"station {station.id!r}: adopted ffmpeg {pid}, left recording by {info['recorder_id']}"
            )
            if self.stop_event.is_set():
                handle.send_signal(signal.SIGINT)
            listed = read_segment_list(session_dir / "segments.csv")
            earlier_s = sum(end - start for _name, start, end in listed)
            followed_s = self._follow(handle, session_dir, spawned, receiver, assumed=None, adopted=True)
            return earlier_s + followed_s
        return None

    def _follow(
        self,
        proc: subprocess.Popen[bytes] | _AdoptedProcess,
        session_dir: Path,
        spawned: datetime,
        receiver: PcmReceiver | None,
        *,
        assumed: StreamCodec | None,
        adopted: bool = False,
    ) -> float:
        """Publish one ffmpeg's segments as they complete, until it exits; returns the seconds published."""
        station = self.station
        seg_list = session_dir / "segments.csv"
        log_path = session_dir / "ffmpeg.log"
        flowing = threading.Event()
        log_offset = 0
        if adopted:
            # What the dead recorder read is not read again (its titles are in the log already).
            with contextlib.suppress(OSError):
                log_offset = log_path.stat().st_size
            if read_segment_list(seg_list) or any(staged_time(p) for p in session_dir.iterdir()):
                flowing.set()
        stderr_tail: list[str] = []
        threads = [
            threading.Thread(
                target=self._read_stderr,
                args=(proc, log_path, flowing, stderr_tail, log_offset),
                daemon=True,
            )
        ]
        if receiver is not None:
            assert self.recorder.dispatcher is not None
            threads.append(
                threading.Thread(
                    target=read_blocks,
                    args=(receiver, station.id, self.config.live_sample_rate, self.recorder.dispatcher, _now),
                    daemon=True,
                )
            )
        for thread in threads:
            thread.start()

        seg_s = self.config.segment_seconds
        published = 0
        first_start: datetime | None = None
        audio_end: datetime | None = None
        recorded_s = 0.0
        provisional_done = False
        exit_at: datetime | None = None
        while True:
            exited = proc.poll() is not None
            if exited and exit_at is None:
                exit_at = datetime.now(UTC)
            if flowing.is_set() and not provisional_done:
                provisional_done = True
                self.status = "recording"
                self.since = datetime.now(UTC)
                self.error = None
                if self._pending_gap is not None:
                    # Audio is flowing again: close the gap now, refined once the first segment is done.
                    append_gap(self.data_root, self._gap_until(self._pending_gap, datetime.now(UTC)))
            entries = read_segment_list(seg_list)
            while published < len(entries):
                name, pts_start, pts_end = entries[published]
                path = session_dir / name
                if not path.exists():  # published by the recorder this ffmpeg was adopted from
                    published += 1
                    continue
                duration = max(0.0, pts_end - pts_start)
                if published == 0:
                    boundary = self._boundary_after(session_dir, name)
                    end_wall = snap_to_boundary(boundary, seg_s) if boundary else exit_at
                    if end_wall is None:
                        break  # the next segment is not open yet: look again on the next poll
                    start = end_wall - timedelta(seconds=duration)
                else:
                    named = staged_time(path)
                    start = snap_to_boundary(named, seg_s) if named else (audio_end or spawned)
                if path.exists() and duration > 0:
                    duration = held_duration(path, duration, self.data_root, station.id)
                if path.exists() and duration > 0:
                    audio_end = self._publish(path, start, duration)
                    recorded_s += duration
                    if published == 0:
                        first_start = _round_s(start)
                        self._on_first_audio(first_start)
                        info = _read_json(session_dir / "session.json")
                        write_json_atomic(session_dir / "session.json", {**info, "published_first": True})
                else:
                    path.unlink(missing_ok=True)
                published += 1
            if exited and published >= len(read_segment_list(seg_list)):
                break
            time.sleep(self.config.poll_s)

        if receiver is not None:
            receiver.close()
        for thread in threads:
            thread.join(timeout=5)
        # A segment not in the list (ffmpeg was killed) is salvaged like an orphan.
        for path in sorted(p for p in session_dir.iterdir() if staged_time(p)):
            try:
                duration = probe_audio(path).duration_s
            except AudioProbeError:
                path.unlink(missing_ok=True)
                continue
            if first_start is None:
                start = (exit_at or datetime.now(UTC)) - timedelta(seconds=duration)
                first_start = _round_s(start)
                self._on_first_audio(first_start)
            else:
                start = snap_to_boundary(staged_time(path) or audio_end or datetime.now(UTC), seg_s)
            audio_end = self._publish(path, start, duration)
            recorded_s += duration
        shutil.rmtree(session_dir, ignore_errors=True)
        self._proc = None

        self._killed = (proc.returncode or 0) < 0
        reason = scrub(" | ".join(stderr_tail[-3:]), station.stream_url)
        ended = audio_end or exit_at or datetime.now(UTC)
        if self.recorder.dispatcher is not None and recorded_s > 0:
            self.recorder.dispatcher.stream_down(station.id, ended)
        if self.stop_event.is_set():
            return recorded_s
        if recorded_s > 0 or adopted:
            cause = "ffmpeg_exited" if self._killed else "stream_lost"
            self.status = "down"
            self._open_gap(ended, cause, reason or f"ffmpeg exited with status {proc.returncode}")
            log.warning("station %r: stream ended (%s); reconnecting", station.id, reason or proc.returncode)
        else:
            if assumed is not None:
                self._format = None  # last run's codec may be what failed: find it afresh
            self.status = "down"
            self.error = reason or f"ffmpeg exited with status {proc.returncode} before any audio"
            # Warn once per outage, not on every retry of a station that stays down.
            level = logging.WARNING if self._pending_gap is None else logging.DEBUG
            self._open_gap(exit_at or datetime.now(UTC), "stream_unreachable", self.error)
            log.log(level, "station %r (%s): no audio: %s", station.id, station.safe_stream_url, self.error)
        return recorded_s

    # helpers ------------------------------------------------------------------------------------------

    def _check_codec(self, assumed: StreamCodec, proc: subprocess.Popen[bytes]) -> None:
        """Beside an ffmpeg started with last run's codec: restart it if the stream now carries another."""
        codec, _why, from_header = detect_codec(self.station.stream_url, self.config.probe_timeout_s)
        if codec is None:
            return  # unreachable now: ffmpeg ends by itself, and the next attempt looks afresh
        found = StreamCodec(codec, from_header)
        if found == assumed:
            return
        write_stream_codec(self.data_root, self.station.id, self.station.stream_url, found)
        log.warning(
            "station %r: the stream now carries %s (the last run found %s); restarting its recording",
            self.station.id,
            codec,
            assumed.codec,
        )
        self._format = None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)

    def _read_stderr(
        self,
        proc: subprocess.Popen[bytes] | _AdoptedProcess,
        log_path: Path,
        flowing: threading.Event,
        tail: list[str],
        offset: int = 0,
    ) -> None:
        """Follow ffmpeg's log file as it grows, until the process has exited and the file is read."""
        with open(log_path, "rb") as log_file:
            log_file.seek(offset)
            pending = b""
            while True:
                data = log_file.readline()
                if not data:
                    if proc.poll() is not None:
                        data = log_file.read()
                        if not data:
                            return
                    else:
                        time.sleep(0.2)
                        continue
                pending += data
                if not pending.endswith(b"\n") and proc.poll() is None:
                    continue
                self._on_log_line(pending.decode("utf-8", errors="replace").strip(), flowing, tail)
                pending = b""

    def _on_log_line(self, line: str, flowing: threading.Event, tail: list[str]) -> None:
        if "Metadata update" in line:
            title = parse_title_line(line) if self.config.icy else None
            if title and title != self._last_title:
                self._last_title = title
                self._on_title(title, datetime.now(UTC))
            return
        match = _OPENING.search(line)
        if match and staged_time(Path(match.group("path"))):
            flowing.set()
        elif _ERROR_HINT.search(line):
            tail.append(line)
            del tail[:-10]

    def _publish(self, path: Path, start: datetime, duration: float) -> datetime:
        """Publish a complete segment (split at clock boundaries if it runs over one); returns its end."""
        end = utc(start) + timedelta(seconds=duration)
        for piece, piece_start, piece_s in split_at_boundaries(
            path, start, duration, self.config.segment_seconds
        ):
            dest = publish_segment(piece, self.data_root, self.station.id, _round_s(piece_start), piece_s)
            self.stats.segments += 1
            self.stats.seconds += piece_s
            if dest:
                self.last_segment = dest.name
        self.last_segment_end = end
        return end

    def _boundary_after(self, session_dir: Path, name: str) -> datetime | None:
        """The clock boundary that ended segment `name`: the name of the segment opened after it."""
        later = sorted(p.name for p in session_dir.iterdir() if staged_time(p) and p.name > name)
        return staged_time(session_dir / later[0]) if later else None

    def _open_gap(self, start: datetime, cause: str, detail: str) -> None:
        if self._pending_gap is not None:
            return  # still the same outage: keep its first start and cause
        gap = Gap(self.station.id, start, None, cause, detail[:500])
        self._pending_gap = gap
        try:
            append_gap(self.data_root, gap)
        except OSError as exc:
            # A full disk must not kill this station's thread (it would never record again). The gap
            # stays pending in memory and is written, closed, once audio is back and there is room.
            log.error(
                "station %r: cannot write the gap log (%s); will retry when the gap closes", gap.station, exc
            )

    @staticmethod
    def _gap_until(gap: Gap, end: datetime) -> Gap:
        return Gap(gap.station, gap.start, max(gap.start, end), gap.cause, gap.detail)

    def _on_first_audio(self, start: datetime) -> None:
        """The first segment of a process is complete: close the outage before it, exactly."""
        if self._pending_gap is not None:
            gap = self._gap_until(self._pending_gap, start)
            append_gap(self.data_root, gap)
            self.stats.gaps.append(gap)
            self._pending_gap = None
        if self._first_session:
            self._first_session = False
            self.recorder.log_recorder_down(self.station.id, start, self.stats)

    def _on_title(self, title: str, at: datetime) -> None:
        self.stats.titles += 1
        append_nowplaying(self.data_root, NowPlaying(self.station.id, at, title))


# -- all stations ----------------------------------------------------------------------------------------


class Recorder:
    """Records every enabled station of a stations file (or list) in one process, or those of `groups`."""

    def __init__(
        self,
        data_root: Path,
        stations: Path | list[Station],
        config: RecorderConfig | None = None,
        *,
        sink: LiveAudioSink | None = None,
        recorder_id: str | None = None,
        run_id: str | None = None,
        on_event: Callable[[str], None] | None = None,
        groups: frozenset[str] | None = None,
    ) -> None:
        self.data_root = Path(data_root)
        self.stations_source = stations
        self.config = config or RecorderConfig()
        self.groups = groups  # recorder groups (shards) recorded here; None = every station
        self.recorder_id = recorder_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.run_id = run_id
        self.on_event = on_event or (lambda message: log.info("%s", message))
        self.dispatcher = LiveDispatcher(sink) if sink is not None else None
        self.stations: dict[str, StationRecorder] = {}
        self.finished: dict[str, StationStats] = {}
        self.config_errors: list[str] = []
        self.started_at = datetime.now(UTC)
        self.stop_event = threading.Event()
        self._salvage_done = threading.Event()
        self._stations_mtime: float | None = None
        self._lock = threading.Lock()

    # lifecycle ----------------------------------------------------------------------------------------

    def run(self, duration_s: float | None = None) -> dict[str, StationStats]:
        """Record until `stop()`, a stop request file, or `duration_s`; returns per-station stats."""
        deadline = None if duration_s is None else time.monotonic() + duration_s
        self._heartbeat()
        # Stations first, salvage once their ffmpegs run: probing a killed recorder's leftovers would
        # otherwise delay every station's reconnection, and that delay is audio lost (docs/reliability.md).
        self._apply_stations(self._load_stations())
        salvage = threading.Thread(target=self._salvage, name="salvage", daemon=True)
        salvage.start()
        next_beat = time.monotonic()
        try:
            while not self.stop_event.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop_file = stop_request_path(self.data_root, self.recorder_id)
                if stop_file.exists():
                    why = _read_json(stop_file).get("reason") or "rotation"
                    self.on_event(f"stop requested ({why}): finishing the current segments")
                    break
                if time.monotonic() >= next_beat:
                    self._reload_if_changed()
                    self._hand_over_moved()
                    self._heartbeat()
                    next_beat = time.monotonic() + self.config.heartbeat_s
                self.stop_event.wait(min(0.5, self.config.heartbeat_s))
        finally:
            self._shutdown()
        return self.stats()

    def stop(self) -> None:
        self.stop_event.set()

    def _salvage(self) -> None:
        deadline = time.monotonic() + 5.0
        for rec in list(self.stations.values()):
            rec.launched.wait(max(0.0, deadline - time.monotonic()))
        try:
            stop_orphans(self.data_root, self.live_recorder_ids(), self.config.stop_timeout_s)
            salvaged = salvage_orphans(self.data_root, self.live_recorder_ids())
            if salvaged:
                self.on_event(f"salvaged {len(salvaged)} segment(s) left by a stopped recorder")
        except Exception as exc:  # a leftover must not stop recording; it stays in staging for next time
            self.on_event(f"error: salvaging a stopped recorder's segments failed: {exc}")
        finally:
            self._salvage_done.set()

    def stats(self) -> dict[str, StationStats]:
        result = dict(self.finished)
        result.update({sid: rec.stats for sid, rec in self.stations.items()})
        return result

    def _shutdown(self) -> None:
        recorders = list(self.stations.values())
        for rec in recorders:
            rec.stop()
        for rec in recorders:
            rec.join(self.config.stop_timeout_s + 5)
        for sid, rec in self.stations.items():
            self.finished[sid] = rec.stats
        self._heartbeat(stopped=True)
        if self.dispatcher is not None:
            self.dispatcher.close()
        stop_request_path(self.data_root, self.recorder_id).unlink(missing_ok=True)

    # stations -----------------------------------------------------------------------------------------

    def _load_stations(self) -> list[Station]:
        if isinstance(self.stations_source, list):
            return [s for s in self.stations_source if s.enabled]
        path = Path(self.stations_source)
        with contextlib.suppress(OSError):
            self._stations_mtime = path.stat().st_mtime
        stations, errors = load_recordable_stations(path)
        if errors != self.config_errors:
            for message in errors:
                self.on_event(f"error: {message}")
        self.config_errors = errors
        return stations

    def _reload_if_changed(self) -> None:
        if isinstance(self.stations_source, list):
            return
        try:
            mtime = Path(self.stations_source).stat().st_mtime
        except OSError:
            return
        if mtime == self._stations_mtime:
            return
        try:
            stations = self._load_stations()
        except StationsFileError as exc:
            self.on_event(f"error: {exc}; still recording the previous stations")
            self._stations_mtime = mtime
            return
        self._apply_stations(stations)

    def _apply_stations(self, stations: list[Station]) -> None:
        """Start new stations, stop removed or disabled ones, restart changed ones; leave the rest alone.

        A station moved to a group this recorder does not record is not stopped here: it records on
        until another recorder records it (`_hand_over_moved`), so that the move leaves no hole.
        """
        wanted = {s.id: s for s in stations if in_groups(s, self.groups)}
        elsewhere = {s.id: s for s in stations if not in_groups(s, self.groups)}
        with self._lock:
            for sid in list(self.stations):
                rec = self.stations[sid]
                if sid in wanted and same_recording(wanted[sid], rec.station):
                    if rec.moving_to is not None:
                        self.on_event(
                            f"station {sid!r}: back in group {wanted[sid].recorder_group!r}, kept here"
                        )
                    # A new group that this recorder also records: nothing to restart.
                    rec.station, rec.moving_to = wanted[sid], None
                    continue
                if sid in elsewhere:
                    group = elsewhere[sid].recorder_group
                    if rec.moving_to != group:
                        rec.moving_to = group
                        self.on_event(
                            f"station {sid!r}: moved to recorder group {group!r}; recording it here until "
                            "a recorder of that group records it"
                        )
                    continue
                rec.stop()
                rec.join(self.config.stop_timeout_s + 5)
                self.finished[sid] = rec.stats
                del self.stations[sid]
                if sid not in wanted:
                    append_gap(
                        self.data_root,
                        Gap(
                            sid,
                            datetime.now(UTC),
                            None,
                            "station_disabled",
                            "removed or disabled in stations.yaml",
                        ),
                    )
                    self.on_event(f"station {sid!r}: stopped (removed or disabled in stations.yaml)")
                else:
                    self.on_event(f"station {sid!r}: settings changed, restarting its recording")
            for sid, station in wanted.items():
                if sid in self.stations:
                    continue
                try:
                    check_stream_url(station.stream_url)
                except ValueError as exc:
                    message = f"station {sid!r}: not recorded: {exc}"
                    if message not in self.config_errors:
                        self.config_errors.append(message)
                        self.on_event(f"error: {message}")
                    continue
                rec = StationRecorder(self, station)
                self.stations[sid] = rec
                rec.start()
                self.on_event(f"station {sid!r}: recording {station.safe_stream_url}")

    def _hand_over_moved(self) -> None:
        """Stop each station moved to another group once another live recorder's heartbeat records it."""
        moving = {sid: rec for sid, rec in self.stations.items() if rec.moving_to is not None}
        if not moving:
            return
        # The taker must record it for keeps: two recorders that both hand it over (the old group's
        # rotation pair, during a move) would each take the other for the taker and both stop it.
        takers = [s for s in read_states(self.data_root) if s.recorder_id != self.recorder_id and s.alive()]
        with self._lock:
            for sid, rec in moving.items():
                taker = next(
                    (s for s in takers if s.recording(sid) and not s.stations[sid].get("moving_to")), None
                )
                if taker is None or self.stations.get(sid) is not rec:
                    continue
                rec.stop()
                rec.join(self.config.stop_timeout_s + 5)
                self.finished[sid] = rec.stats
                del self.stations[sid]
                self.on_event(
                    f"station {sid!r}: recorder {taker.recorder_id} (group {rec.moving_to!r}) "
                    "records it now; stopped here"
                )

    # gaps across recorder processes ---------------------------------------------------------------------

    def live_recorder_ids(self) -> set[str]:
        ids = {s.recorder_id for s in read_states(self.data_root) if s.alive()}
        ids.add(self.recorder_id)
        return ids

    def log_recorder_down(self, station: str, first_start: datetime, stats: StationStats) -> None:
        """At this recorder's first audio for `station`: log what no recorder recorded before it."""
        # The outage starts where the salvaged leftovers end, so they must be in the store first.
        self._salvage_done.wait(60)
        others = [s for s in read_states(self.data_root) if s.recorder_id != self.recorder_id]
        if any(s.alive() and s.recording(station) for s in others):
            return  # a rotation: the other run is still recording this station
        closed = False
        for gap in open_gaps(self.data_root, station, first_start):
            if gap.start < first_start:
                done = Gap(station, gap.start, first_start, gap.cause, gap.detail)
                append_gap(self.data_root, done)
                stats.gaps.append(done)
                closed = True
        if closed:
            return
        last_end = last_recorded_end(self.data_root, station, first_start)
        if last_end is not None and (first_start - last_end).total_seconds() > 1.0:
            beats = [s.heartbeat_at for s in others if s.heartbeat_at <= first_start]
            detail = "no recorder was running"
            if beats:
                detail += f" (last heartbeat of another recorder {max(beats):%Y-%m-%dT%H:%M:%SZ})"
            gap = Gap(station, last_end, first_start, "recorder_down", detail)
            append_gap(self.data_root, gap)
            stats.gaps.append(gap)

    def _heartbeat(self, stopped: bool = False) -> None:
        state = RecorderState(
            recorder_id=self.recorder_id,
            run_id=self.run_id,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=self.started_at,
            heartbeat_at=datetime.now(UTC),
            stopped=stopped,
            segment_seconds=self.config.segment_seconds,
            groups=None if self.groups is None else sorted(self.groups),
            stations={sid: rec.state() for sid, rec in list(self.stations.items())},
        )
        try:
            write_state(self.data_root, state)
        except OSError as exc:
            self.on_event(f"error: cannot write the heartbeat: {exc}")


# -- small helpers ---------------------------------------------------------------------------------------


def same_recording(a: Station, b: Station) -> bool:
    """Whether two versions of a station record the same way (its recorder group aside)."""
    return a.model_dump(exclude={"recorder_group"}) == b.model_dump(exclude={"recorder_group"})


_RECEIVED_SIGNAL = re.compile(rb"received signal (\d+)")


class _AdoptedProcess:
    """An ffmpeg started by a recorder that died, followed by its pid where a Popen is not to be had."""

    def __init__(self, pid: int, session_dir: Path) -> None:
        self.pid = pid
        self.session_dir = session_dir
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _records_in(self.pid, self.session_dir):
            # Not our child: its exit status is lost. ffmpeg logs the signal that stopped it, which
            # tells a kill (restart at once) from a stream that ended.
            self.returncode = 1
            with contextlib.suppress(OSError):
                tail = (self.session_dir / "ffmpeg.log").read_bytes()[-4096:]
                if found := _RECEIVED_SIGNAL.findall(tail):
                    self.returncode = -int(found[-1])
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _records_in(pid: int, session_dir: Path) -> bool:
    """`pid` is alive and is the ffmpeg writing into `session_dir` (not a process that reused its pid)."""
    return _process_alive(pid) and str(session_dir).encode() in _cmdline(pid)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it holds no open file any more.
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return status != "Z"
    return True


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _round_s(moment: datetime) -> datetime:
    """Chunk names carry whole seconds: round, so the name is at most half a second off."""
    moment = utc(moment)
    return (moment + timedelta(microseconds=500_000)).replace(microsecond=0)


def _now() -> datetime:
    return datetime.now(UTC)
