"""The recorder: one `StationRecorder` per enabled station, stations.yaml followed, heartbeat, orphans."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pige_pipeline.audio.probe import AudioProbeError, probe_audio
from pige_pipeline.recorder.groups import in_groups
from pige_pipeline.recorder.live import LiveAudioSink, LiveDispatcher
from pige_pipeline.recorder.orphans import salvage_orphans, stop_orphans
from pige_pipeline.recorder.recordable import load_recordable_stations
from pige_pipeline.recorder.state import (
    RecorderState,
    read_json,
    read_states,
    stop_request_path,
    write_state,
)
from pige_pipeline.recorder.station_loop import RecorderConfig, StationRecorder, StationStats
from pige_pipeline.stations import Station, StationsFileError, check_stream_url
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.store.gaps import Gap, append_gap, gap_log_path, read_gap_log

log = logging.getLogger(__name__)


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
                    why = read_json(stop_file).get("reason") or "rotation"
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
        # Every station first says whether it adopts an orphan (a file check, seconds at worst on a
        # loaded machine); an orphan stopped while its station was about to adopt it is audio lost.
        checked_by = time.monotonic() + 60.0
        for rec in list(self.stations.values()):
            rec.adoption_checked.wait(max(0.0, checked_by - time.monotonic()))
        # New ffmpegs start before salvage spends CPU probing leftovers.
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
        # A short run (or a busy machine) can end before salvage has stopped and published a dead
        # recorder's leftovers: exiting then would leave them in staging until the next recorder.
        self._salvage_done.wait(self.config.stop_timeout_s + 10)
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


def same_recording(a: Station, b: Station) -> bool:
    """Whether two versions of a station record the same way (its recorder group aside)."""
    return a.model_dump(exclude={"recorder_group"}) == b.model_dump(exclude={"recorder_group"})
