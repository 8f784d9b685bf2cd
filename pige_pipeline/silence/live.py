"""`LiveSilenceMonitor`: pages the duty engineer within a minute of dead air, and again when it ends.

It implements the recorder's `LiveAudioSink` (pige_pipeline/recorder/live.py): the recorder feeds
~1 s blocks of mono int16 per station. The monitor keeps the last seconds of each station, runs the
same detector as the hourly record on them, and follows one state per station:

    listening --(dead air ongoing for alert_seconds and judged suspect)--> alerted --(audio back)--> listening

A stream that goes down clears the buffer (no audio is not dead air: the recorder reports gaps)
but keeps an open alert, so the all-clear still goes out when programme returns.

`LiveAlerts(data_root, stations_file).monitor` is the production sink that the recorder job and `pige record`
attach by default: the monitor follows edits of stations.yaml (a station with `silence.live_alerts:
false` is not watched) and sends through the notifier's durable outbox, which the hourly
`dead_air_alerts` reads so that it never mails a silence already paged (alerts.live_page).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from pige_pipeline.hours import utc
from pige_pipeline.notify import Notification, Notifier
from pige_pipeline.silence.alerts import LIVE_NOTIFICATION_KIND, alert_id, severity
from pige_pipeline.silence.classify import DeadAirEvent, EventContext, classify_rules
from pige_pipeline.silence.detect import detect_silences
from pige_pipeline.stations import SilenceSettings, Station

log = logging.getLogger(__name__)

LIVE_CLEAR_KIND = "dead_air_live_clear"
# Seconds of audio kept per station: enough for the detector's windows and the longest alert delay.
MIN_BUFFER_S = 20.0
# A block arriving this much later than the previous one ended starts a new buffer (jitter is normal).
MAX_JITTER_S = 2.0
# Programme must be back this long before the all-clear goes out, so one click is not "audio back".
CLEAR_AFTER_S = 1.0
# How often the monitor looks whether stations.yaml changed (an opt-out, a new threshold).
STATIONS_CHECK_S = 5.0


@dataclass
class _StationState:
    buffer: list[np.ndarray] = field(default_factory=list)
    samples: int = 0
    sample_rate: int = 0
    end: datetime | None = None  # UTC time at the end of the buffer
    onset: datetime | None = None  # start of the dead air now under way
    alerted: Notification | None = None
    alerted_event: DeadAirEvent | None = None


class BackgroundSender:
    """Delivers notifications on a thread: SMTP may take seconds, the recorder's dispatcher must not wait."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._queue: queue.Queue[Notification | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="dead-air-sender", daemon=True)
        self._thread.start()

    def __call__(self, note: Notification) -> None:
        # In the durable outbox at once, so a crash before delivery loses nothing (the sensor retries).
        self.notifier.outbox.add(note)
        self._queue.put(note)

    def close(self, timeout_s: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while (note := self._queue.get()) is not None:
            try:
                self.notifier.send(note)
            except Exception:  # the outbox keeps it; the sensor retries
                log.exception("live dead-air notification %s failed", note.key)


class LiveSilenceMonitor:
    """Watches live audio per station; `notify` receives the alert and the all-clear notifications."""

    def __init__(
        self,
        stations: list[Station],
        notify: Callable[[Notification], None],
        clock: Callable[[], datetime] | None = None,
        stations_file: Path | None = None,
    ) -> None:
        self.stations = {s.id: s for s in stations}
        self.notify = notify
        self.clock = clock
        # When given, re-read on change (at most every STATIONS_CHECK_S), as the recorder does.
        self.stations_file = stations_file
        self._stations_mtime: float | None = None
        self._stations_checked = 0.0
        self._states: dict[str, _StationState] = {}
        self._lock = threading.Lock()
        self.events: list[tuple[str, str, datetime]] = []  # (station, "alert"/"clear", when sent)

    def settings_for(self, station_id: str) -> SilenceSettings:
        station = self.stations.get(station_id)
        return station.silence if station else SilenceSettings()

    def watches(self, station_id: str) -> bool:
        """False for a station that opted out (`silence.live_alerts: false`)."""
        return self.settings_for(station_id).live_alerts

    def _refresh_stations(self) -> None:
        if self.stations_file is None or time.monotonic() - self._stations_checked < STATIONS_CHECK_S:
            return
        self._stations_checked = time.monotonic()
        try:
            mtime = self.stations_file.stat().st_mtime
        except OSError:
            return  # the recorder reports a missing file; keep watching with what was known
        if mtime == self._stations_mtime:
            return
        from pige_pipeline.recorder.recordable import load_recordable_stations

        try:
            stations, _errors = load_recordable_stations(self.stations_file)
        except ValueError as exc:  # StationsFileError: the recorder reports it too
            log.warning("live dead-air monitor keeps its stations: %s", exc)
            return
        self._stations_mtime = mtime
        self.stations = {s.id: s for s in stations}

    def feed(self, station_id: str, block_start: datetime, samples: np.ndarray, sample_rate: int) -> None:
        with self._lock:
            self._refresh_stations()
            if not self.watches(station_id):
                self._states.pop(station_id, None)
                return
            state = self._states.setdefault(station_id, _StationState())
            block_start = utc(block_start)
            if (
                state.end is None
                or state.sample_rate != sample_rate
                or (abs((block_start - state.end).total_seconds()) > MAX_JITTER_S)
            ):
                state.buffer, state.samples, state.sample_rate = [], 0, sample_rate
            state.buffer.append(np.asarray(samples, dtype=np.int16))
            state.samples += len(samples)
            state.end = block_start + timedelta(seconds=len(samples) / sample_rate)
            settings = self.settings_for(station_id)
            keep = round(max(MIN_BUFFER_S, settings.min_seconds * 2 + 10) * sample_rate)
            while state.samples - len(state.buffer[0]) >= keep:
                state.samples -= len(state.buffer.pop(0))
            self._evaluate(station_id, state, settings)

    def stream_down(self, station_id: str, at: datetime) -> None:
        with self._lock:
            state = self._states.setdefault(station_id, _StationState())
            state.buffer, state.samples, state.end, state.onset = [], 0, None, None

    def _evaluate(self, station_id: str, state: _StationState, settings: SilenceSettings) -> None:
        audio = np.concatenate(state.buffer)
        seconds = len(audio) / state.sample_rate
        assert state.end is not None
        buffer_start = state.end - timedelta(seconds=seconds)
        found = detect_silences(
            audio, state.sample_rate, settings.threshold_db, settings.min_seconds, keep_edge_runs=True
        )
        tail = found[-1] if found and found[-1].end_s >= seconds - 0.1 else None
        if tail is None:
            state.onset = None
            if state.alerted is not None:
                back_for = seconds - (found[-1].end_s if found else 0.0)
                if back_for >= CLEAR_AFTER_S:
                    self._clear(station_id, state, state.end - timedelta(seconds=back_for))
            return
        # While the silence fills the whole buffer, its onset is the one seen when it began.
        if tail.start_s > 0.1 or state.onset is None:
            state.onset = buffer_start + timedelta(seconds=tail.start_s)
        if state.alerted is not None:
            return
        event = DeadAirEvent(
            station_id, state.onset, state.end, tail.level_db, tail.kind, tail.fade_db_per_s, ongoing=True
        )
        if event.duration_s < settings.alert_seconds:
            return
        station = self.stations.get(station_id)
        verdict = classify_rules(
            event, EventContext(timezone=station.timezone if station else "UTC"), settings
        )
        if verdict.classification != "suspect":
            return  # judged again on the next block: the natural rules stop holding as it grows
        note = self._alert_note(station_id, event, verdict.explanation, settings)
        state.alerted, state.alerted_event = note, event
        self._send(station_id, "alert", note)

    def _alert_note(
        self, station_id: str, event: DeadAirEvent, why: str, settings: SilenceSettings
    ) -> Notification:
        name, tz = self._name_tz(station_id)
        local = event.start.astimezone(tz)
        return Notification(
            key=f"{LIVE_NOTIFICATION_KIND}:{alert_id(station_id, event.start)}",
            subject=f"[pige] LIVE dead air on {name} since {local:%H:%M:%S} ({event.kind.replace('_', ' ')})",
            body=(
                f"Station: {name} ({station_id})\n"
                f"Dead air since {event.start:%Y-%m-%d %H:%M:%S}Z ({local:%H:%M:%S} local), "
                f"{event.duration_s:.0f} s so far, still going.\n"
                f"Severity so far: {severity(event.duration_s, settings)}\n"
                f"Classification: suspect ({why})\n"
                f"What: {event.kind.replace('_', ' ')} at {event.level_db:.1f} dBFS\n"
                "An all-clear follows when programme returns.\n"
            ),
            kind=LIVE_NOTIFICATION_KIND,
            data={"station": station_id, "onset": event.start.isoformat(), "kind": event.kind},
        )

    def _clear(self, station_id: str, state: _StationState, back_at: datetime) -> None:
        assert state.alerted is not None and state.alerted_event is not None
        onset = state.alerted_event.start
        duration = (back_at - onset).total_seconds()
        name, tz = self._name_tz(station_id)
        note = Notification(
            key=f"{state.alerted.key}/clear",
            subject=f"[pige] all clear on {name}: audio back at {back_at.astimezone(tz):%H:%M:%S} "
            f"after {duration:.0f} s of dead air",
            body=(
                f"Station: {name} ({station_id})\n"
                f"Dead air from {onset:%Y-%m-%d %H:%M:%S}Z to {back_at:%H:%M:%S}Z ({duration:.0f} s).\n"
                f"Severity: {severity(duration, self.settings_for(station_id))}\n"
                "The hourly dead-air record will carry the audited entry.\n"
            ),
            kind=LIVE_CLEAR_KIND,
            data={"station": station_id, "onset": onset.isoformat(), "back_at": back_at.isoformat()},
        )
        state.alerted, state.alerted_event = None, None
        self._send(station_id, "clear", note)

    def _name_tz(self, station_id: str) -> tuple[str, ZoneInfo]:
        station = self.stations.get(station_id)
        return (station.name, ZoneInfo(station.timezone)) if station else (station_id, ZoneInfo("UTC"))

    def _send(self, station_id: str, what: str, note: Notification) -> None:
        now = self.clock() if self.clock else datetime.now(tz=ZoneInfo("UTC"))
        self.events.append((station_id, what, now))
        log.warning("%s: %s", station_id, note.subject)
        self.notify(note)


class LiveAlerts:
    """The production live sink: the monitor, notifier from the environment, stations.yaml followed."""

    def __init__(self, data_root: Path, stations_file: Path) -> None:
        from pige_pipeline.recorder.recordable import load_recordable_stations

        notifier = Notifier.from_env(data_root)
        try:
            stations, _errors = load_recordable_stations(stations_file)
        except ValueError:
            stations = []  # the recorder reports the file; the monitor reads it once it is readable
        self.sender = BackgroundSender(notifier)
        self.monitor = LiveSilenceMonitor(stations, self.sender, stations_file=stations_file)
        self.describe = f"live dead-air alerts on: {notifier.settings.describe()}"

    def feed(self, station_id: str, block_start: datetime, samples: np.ndarray, sample_rate: int) -> None:
        self.monitor.feed(station_id, block_start, samples, sample_rate)

    def stream_down(self, station_id: str, at: datetime) -> None:
        self.monitor.stream_down(station_id, at)

    def close(self) -> None:
        """Let the sender finish what is queued (the outbox keeps anything it could not deliver)."""
        self.sender.close()

    def __enter__(self) -> LiveAlerts:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
