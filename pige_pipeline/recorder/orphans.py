"""Sessions left by a recorder that died: adopted by the next recorder, else stopped and salvaged.

A recorder's ffmpegs record on when the recorder process dies; the next recorder adopts them
(`StationRecorder._adopt_orphan`), so no audio is lost to a recorder crash. Sessions nobody adopts are
stopped and their complete segments published."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pige_pipeline.audio.probe import AudioProbeError, probe_audio
from pige_pipeline.recorder.publish import (
    publish_segment,
    read_segment_list,
    rejected_dir,
    staged_time,
)
from pige_pipeline.recorder.state import pid_alive, read_json
from pige_pipeline.stations import STATION_ID_PATTERN

log = logging.getLogger(__name__)


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
        info = read_json(session / "session.json")
        # The directory is named `{recorder_id}-{session}`: a live recorder's session is skipped even
        # in the instant between its creation and its session.json.
        if {info.get("recorder_id"), session.name.rsplit("-", 1)[0]} & live_recorders:
            continue
        if info.get("ffmpeg_pid") and pid_alive(int(info["ffmpeg_pid"])):
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
            dest = publish_segment(path, data_root, station, start, duration)
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
        info = read_json(session / "session.json")
        owner_pid = info.get("recorder_pid")
        # A recorder restarted under the same id (`pige record --recorder-id`) is a new process.
        owner_gone = owner_pid is not None and not pid_alive(int(owner_pid))
        owned = {info.get("recorder_id"), session.name.rsplit("-", 1)[0]} & live_recorders
        if not info or (owned and not owner_gone):
            continue
        if info.get("ffmpeg_pid") and records_in(int(info["ffmpeg_pid"]), session):
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
    while time.monotonic() < deadline and any(records_in(int(i["ffmpeg_pid"]), d) for d, i in orphans):
        time.sleep(0.1)
    return [session for session, _info in orphans]


_RECEIVED_SIGNAL = re.compile(rb"received signal (\d+)")


class AdoptedProcess:
    """An ffmpeg started by a recorder that died, followed by its pid where a Popen is not to be had."""

    def __init__(self, pid: int, session_dir: Path) -> None:
        self.pid = pid
        self.session_dir = session_dir
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not records_in(self.pid, self.session_dir):
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


def process_cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def records_in(pid: int, session_dir: Path) -> bool:
    """`pid` is alive and is the ffmpeg writing into `session_dir` (not a process that reused its pid)."""
    return pid_alive(pid) and str(session_dir).encode() in process_cmdline(pid)
