"""One station's recording loop: an ffmpeg per connection, clock-aligned chunks, gaps, ICY titles.

How a chunk gets its name: see `recorder/publish.py`. A gap is the time between the end of one
process's audio and the start of the next one's. It is logged open (end null) when a stream drops, with
a provisional end when audio flows again, and with its exact end once the first new segment is
complete (readers keep the latest line)."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pige_pipeline.audio.probe import AudioProbeError, probe_audio
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
from pige_pipeline.recorder.live import PcmReceiver, read_blocks
from pige_pipeline.recorder.nowplaying import NowPlaying, append_nowplaying, parse_title_line
from pige_pipeline.recorder.orphans import AdoptedProcess, orphan_sessions, process_cmdline
from pige_pipeline.recorder.probe import detect_codec, stream_answers
from pige_pipeline.recorder.publish import (
    LISTED_TOLERANCE_S,
    held_duration,
    incoming_dir,
    publish_segment,
    read_segment_list,
    snap_to_boundary,
    split_at_boundaries,
    staged_time,
)
from pige_pipeline.recorder.state import (
    read_json,
    write_json_atomic,
)
from pige_pipeline.stations import Station, check_stream_url
from pige_pipeline.store.chunks import round_to_millisecond
from pige_pipeline.store.gaps import Gap, append_gap

if TYPE_CHECKING:  # the recorder owns its stations' loops; only its type is needed here
    from pige_pipeline.recorder.multi_station import Recorder

log = logging.getLogger(__name__)

_OPENING = re.compile(r"Opening '(?P<path>[^']+)' for writing")

# Lines of ffmpeg's stderr worth keeping as the reason a process ended.
_ERROR_HINT = re.compile(
    r"error|failed|refused|not found|denied|invalid|timed out|unreachable|\b[45]\d\d\b", re.I
)
# ffmpeg's words for a stream that was not there (refused, missing, cut), as opposed to one that answered
# and then failed for another reason (bad data, a full disk).
_STREAM_DOWN = re.compile(
    r"HTTP error [45]\d\d|Server returned [45]\d\d|Connection refused|Connection reset|timed out|"
    r"No route to host|Name or service not known|name resolution|Input/output error|End of file",
    re.I,
)


@dataclass
class RecorderConfig:
    """Recorder settings; tests shorten `segment_seconds` and keep the same code path."""

    segment_seconds: int = 3600
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 5.0
    # While a station waits out its backoff, its stream is asked whether it is back (one GET, see
    # `_await_stream`): (outage age up to s, ask every s). Most outages are short; a long one is asked
    # less often, so that hundreds of stations of one dead server do not keep it busy.
    stream_checks: tuple[tuple[float, float], ...] = ((15.0, 0.25), (60.0, 0.5), (float("inf"), 2.0))
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
        self._unwritten: list[Gap] = []  # gap lines a full disk refused; written once there is room
        self._first_session = True
        self._codec_checked = False  # the stream itself was asked, not only the last run's record
        self._killed = False  # the last ffmpeg ended by a signal (killed), not by its stream ending
        self._found_down = False  # the last ffmpeg ended because the stream was not there (see _STREAM_DOWN)
        self._proc: subprocess.Popen[bytes] | None = None
        # Set once the first ffmpeg is running (or the first attempt ended): salvage waits for it.
        self.launched = threading.Event()
        # Set once this station has looked for an orphan to adopt: until then `stop_orphans` must not
        # take its orphan for one nobody wants (a loaded machine can take seconds to get there).
        self.adoption_checked = threading.Event()
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
        outage_since: float | None = None
        while not self.stop_event.is_set():
            unsupported = False
            self._found_down = False
            try:
                had_audio_s = None
                if first:
                    first = False
                    try:
                        had_audio_s = self._adopt_orphan()
                    finally:
                        self.adoption_checked.set()
                if had_audio_s is None:
                    had_audio_s = self._session()
            except UnsupportedStreamError as exc:
                self._fail(str(exc))
                had_audio_s = 0.0
                delay = self.config.backoff_max_s
                unsupported = True  # the stream answers: asking it again tells nothing new
            except Exception as exc:  # a station's bug must never take the others down
                log.exception("station %r: recorder error", self.station.id)
                self._fail(f"{type(exc).__name__}: {exc}")
                had_audio_s = 0.0
            self.launched.set()
            if self.stop_event.is_set():
                break
            if had_audio_s > 10:
                delay = self.config.backoff_initial_s
                outage_since = time.monotonic()
                if self._killed:
                    # Our ffmpeg died by a signal, the stream did not: every second spent waiting is audio
                    # lost. A stream that ended waits the first backoff step: reconnecting at once can
                    # reach a server that is shutting down, and then hangs until -rw_timeout (10 s).
                    continue
            if outage_since is None:
                outage_since = time.monotonic()
            self._await_stream(delay, None if unsupported else outage_since)
            delay = min(delay * 2, self.config.backoff_max_s)
        self.status = "stopped"

    def _await_stream(self, delay_s: float, outage_since: float | None) -> None:
        """Wait out a backoff step, but end it as soon as the stream answers again.

        Backoff doubles up to `backoff_max_s` (5 s) so that a station that stays down costs few ffmpeg
        starts; without the check, a stream back 0.1 s after an attempt waited for the next one: up to
        5 s of audio lost to the schedule, not to the outage. The first `backoff_initial_s` is always
        waited (a server that is shutting down can still answer, see `run`). The checks are jittered so
        that hundreds of stations of one server that went down do not ask it in step.
        """
        cfg = self.config
        deadline = time.monotonic() + delay_s
        if outage_since is None:
            self.stop_event.wait(delay_s)
            return
        # A stream the attempt that just ended found missing, or that does not answer now, is one whose
        # return ends the wait. ffmpeg's own word counts: a source back 0.3 s after a 404 answers the
        # first check already, and only asking would then take it for one that answered all along.
        seen_down = self._found_down or not stream_answers(self.station.stream_url, timeout_s=1.0)
        if self.stop_event.wait(max(0.0, min(deadline - time.monotonic(), cfg.backoff_initial_s))):
            return
        while (left := deadline - time.monotonic()) > 0:
            if stream_answers(self.station.stream_url, timeout_s=min(1.0, max(0.2, left))):
                # Only a stream seen down and then back ends the wait: one that answered all along
                # failed ffmpeg for another reason (a full disk, bad data), and backs off as before.
                if seen_down:
                    return
            else:
                seen_down = True
            age = time.monotonic() - outage_since
            every = next((every for up_to, every in cfg.stream_checks if age <= up_to), 2.0)
            step = every * random.uniform(0.8, 1.2)
            if self.stop_event.wait(min(step, max(0.0, deadline - time.monotonic()))):
                return

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
            if station.stream_url.encode() not in process_cmdline(pid):
                continue  # the station's URL changed while no recorder ran: stop_orphans ends it
            # Claim it first, so that salvage and stop_orphans leave it to this recorder.
            claimed = {
                **info,
                "recorder_id": self.recorder.recorder_id,
                "recorder_pid": os.getpid(),
                "adopted_from": info["recorder_id"],
            }
            write_json_atomic(session_dir / "session.json", claimed)
            self.adoption_checked.set()
            receiver = None
            if self.recorder.dispatcher is not None and info.get("live_port"):
                try:
                    receiver = PcmReceiver(int(info["live_port"]))
                except OSError as exc:
                    log.warning("station %r: no live audio from the adopted ffmpeg (%s)", station.id, exc)
            self._proc = handle = AdoptedProcess(pid, session_dir)
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
        proc: subprocess.Popen[bytes] | AdoptedProcess,
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
        short_since: datetime | None = None  # the audio end before a segment that held less than listed
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
                    # Only provisional: a full disk refusing it must not stop this ffmpeg being followed.
                    with contextlib.suppress(OSError):
                        append_gap(self.data_root, self._gap_until(self._pending_gap, datetime.now(UTC)))
            if self._unwritten:
                self._write_gaps()
            entries = read_segment_list(seg_list)
            while published < len(entries):
                name, pts_start, pts_end = entries[published]
                path = session_dir / name
                if not path.exists():  # published by the recorder this ffmpeg was adopted from
                    published += 1
                    continue
                listed = duration = max(0.0, pts_end - pts_start)
                end_wall = None
                if published == 0:
                    boundary = self._boundary_after(session_dir, name)
                    end_wall = snap_to_boundary(boundary, seg_s) if boundary else exit_at
                    if end_wall is None:
                        break  # the next segment is not open yet: look again on the next poll
                if duration > 0:
                    duration = held_duration(path, duration, self.data_root, station.id)
                if end_wall is not None:
                    # The first segment is placed by its end, with what its file holds, so that it ends
                    # where the next one starts.
                    start = end_wall - timedelta(seconds=duration)
                else:
                    named = staged_time(path)
                    start = snap_to_boundary(named, seg_s) if named else (audio_end or spawned)
                    if short_since is not None and (start - short_since).total_seconds() > LISTED_TOLERANCE_S:
                        # ffmpeg went on after a segment that held less than it received (a full disk
                        # refused writes, then had room again): no exit opens a gap for that hole.
                        self._log_hole(short_since, start)
                short_since = None
                if duration < listed - LISTED_TOLERANCE_S:
                    short_since = audio_end  # where the audio really ends if nothing is published now
                if path.exists() and duration > 0:
                    audio_end = self._publish(path, start, duration)
                    recorded_s += duration
                    if short_since is not None:
                        short_since = audio_end
                    # The first segment that holds audio closes the outage before it (one the full disk
                    # left empty does not: the gap goes on until audio is really there).
                    if first_start is None and (published == 0 or not adopted):
                        first_start = round_to_millisecond(start)
                        self._on_first_audio(first_start)
                        try:
                            info = read_json(session_dir / "session.json")
                            write_json_atomic(session_dir / "session.json", {**info, "published_first": True})
                        except OSError as exc:
                            # Only an adopting recorder reads it (it would log this outage's gap again):
                            # a full disk must not stop this ffmpeg being followed (its audio would be lost).
                            log.warning("station %r: cannot mark the session published (%s)", station.id, exc)
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
                first_start = round_to_millisecond(start)
                self._on_first_audio(first_start)
            else:
                start = snap_to_boundary(staged_time(path) or audio_end or datetime.now(UTC), seg_s)
            audio_end = self._publish(path, start, duration)
            recorded_s += duration
        shutil.rmtree(session_dir, ignore_errors=True)
        self._proc = None
        if self._unwritten:
            self._write_gaps()  # the session dir just freed some room

        self._killed = (proc.returncode or 0) < 0
        reason = scrub(" | ".join(stderr_tail[-3:]), station.stream_url)
        self._found_down = bool(_STREAM_DOWN.search(reason))
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
        proc: subprocess.Popen[bytes] | AdoptedProcess,
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
            dest = publish_segment(piece, self.data_root, self.station.id, piece_start, piece_s)
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

    def _write_gaps(self, *gaps: Gap) -> None:
        """Append closed gaps (and those a full disk refused before, first); on failure keep them all."""
        self._unwritten.extend(gaps)
        try:
            while self._unwritten:
                append_gap(self.data_root, self._unwritten[0])
                del self._unwritten[0]
        except OSError as exc:
            log.error(
                "station %r: cannot write %d gap line(s) (%s); will retry",
                self.station.id,
                len(self._unwritten),
                exc,
            )

    def _log_hole(self, start: datetime, end: datetime) -> None:
        """A stretch inside one ffmpeg's run that its segments do not hold (their writes were refused)."""
        gap = Gap(
            self.station.id,
            start,
            end,
            "segment_lost",
            "ffmpeg received this audio but its segment file held less (disk full?)",
        )
        log.error(
            "station %r: %.1f s from %s not held by its segment (disk full?); gap logged",
            self.station.id,
            gap.duration_s or 0.0,
            start.isoformat(),
        )
        self.stats.gaps.append(gap)
        self._write_gaps(gap)

    def _open_gap(self, start: datetime, cause: str, detail: str) -> None:
        if self._pending_gap is not None:
            return  # still the same outage: keep its first start and cause
        if self._unwritten:
            self._write_gaps()  # earlier lines first
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
            self._pending_gap = None
            self.stats.gaps.append(gap)
            # Closed now even if a full disk refuses the line (it is kept and written later): left
            # pending, the gap would stretch over the audio this process records.
            self._write_gaps(gap)
        if self._first_session:
            self._first_session = False
            self.recorder.log_recorder_down(self.station.id, start, self.stats)

    def _on_title(self, title: str, at: datetime) -> None:
        self.stats.titles += 1
        append_nowplaying(self.data_root, NowPlaying(self.station.id, at, title))


def _now() -> datetime:
    return datetime.now(UTC)
