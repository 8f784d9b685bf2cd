"""Prometheus metrics: what the station engineer and the data team watch, read from the data root.

Computed at each scrape (a scrape every 15-60 s costs a few directory listings and small reads):
- per station: recording or not, seconds since its last segment, gap seconds today (UTC day);
- the pipeline: station-hours recorded but not yet processed per asset (last 48 h), failed station
  steps per asset (last 24 h), dead-air alerts and notifications per delivery status (the outbox);
- the disk of the data root: used, free, predicted seconds until full (ops/storage.py);
- the API itself: request latency per route (a histogram).
A part that cannot be read (a file being replaced, a missing outbox) is left out of that scrape and
counted in `pige_metrics_collect_errors`, so one bad file never hides the other metrics.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pige_pipeline.maintenance.storage import check_storage
from pige_pipeline.notify.outbox import outbox_path
from pige_pipeline.recorder.state import RecorderState, read_states
from pige_pipeline.settings import PigeSettings
from pige_pipeline.stations import StationsFileError, load_stations
from pige_pipeline.store.chunks import list_chunks, stations_in_store
from pige_pipeline.store.gaps import read_gaps

log = logging.getLogger(__name__)
PENDING_WINDOW = timedelta(hours=48)
FAILED_WINDOW = timedelta(hours=24)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PigeCollector(Collector):
    """Collects the pige metrics of one data root at each scrape."""

    def __init__(self, settings: PigeSettings, now: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.now = now or (lambda: datetime.now(UTC))

    @property
    def data_root(self) -> Path:
        return self.settings.data_root

    def _stations(self) -> list[str]:
        try:
            return [s.id for s in load_stations(self.settings.stations_file).stations if s.enabled]
        except (StationsFileError, FileNotFoundError, OSError):
            return stations_in_store(self.data_root)

    def collect(self) -> Iterator[Metric]:
        now = self.now()
        errors = GaugeMetricFamily(
            "pige_metrics_collect_errors",
            "1 when a part of the metrics could not be read at this scrape",
            labels=["part"],
        )
        parts: list[tuple[str, Callable[[datetime], list[Metric]]]] = [
            ("stations", self._station_metrics),
            ("pipeline", self._pipeline_metrics),
            ("notifications", self._notification_metrics),
            ("disk", self._disk_metrics),
        ]
        for name, part in parts:
            try:
                yield from part(now)
                errors.add_metric([name], 0)
            except Exception:  # a metrics scrape must not fail as a whole: log it and carry on
                log.exception("metrics: %s could not be collected", name)
                errors.add_metric([name], 1)
        yield errors

    def _station_metrics(self, now: datetime) -> list[Metric]:
        recording = GaugeMetricFamily(
            "pige_station_recording", "1 while a live recorder records the station", labels=["station"]
        )
        since_segment = GaugeMetricFamily(
            "pige_station_seconds_since_last_segment",
            "Seconds since the station's last recorded segment ended (or was written)",
            labels=["station"],
        )
        gap_today = GaugeMetricFamily(
            "pige_station_gap_seconds_today",
            "Seconds without recording today (UTC day), from the gap log",
            labels=["station"],
        )
        states = read_states(self.data_root)
        live = [s for s in states if s.alive(now)]
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for station in self._stations():
            recording.add_metric([station], 1.0 if any(s.recording(station) for s in live) else 0.0)
            last = self._last_segment(station, now, states)
            if last is not None:
                since_segment.add_metric([station], max((now - last).total_seconds(), 0.0))
            gap_s = 0.0
            for gap in read_gaps(self.data_root, station, day_start, now):
                start, end = max(gap.start, day_start), min(gap.end or now, now)
                gap_s += max((end - start).total_seconds(), 0.0)
            gap_today.add_metric([station], gap_s)
        return [recording, since_segment, gap_today]

    def _last_segment(self, station: str, now: datetime, states: list[RecorderState]) -> datetime | None:
        ends: list[datetime] = []
        for state in states:
            raw = (state.stations.get(station) or {}).get("last_segment_end")
            if raw:
                with contextlib.suppress(ValueError):
                    ends.append(datetime.fromisoformat(str(raw)).astimezone(UTC))
        chunks = list_chunks(self.data_root, station, now - timedelta(days=2), now + timedelta(hours=1))
        if chunks:
            with contextlib.suppress(FileNotFoundError):  # removed by retention meanwhile
                ends.append(datetime.fromtimestamp(chunks[-1].path.stat().st_mtime, UTC))
        return max(ends) if ends else None

    def _manifests(self, now: datetime, window: timedelta) -> Iterator[tuple[str, datetime, dict]]:
        """(asset, hour, manifest) of the hours in the last `window`."""
        root = self.data_root / "parquet" / "_manifests"
        if not root.is_dir():
            return
        first = (now - window).replace(minute=0, second=0, microsecond=0)
        for asset_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            hour = first
            while hour <= now:
                path = asset_dir / f"{hour:%Y}" / f"{hour:%m}" / f"{hour:%d}" / f"{hour:%H}.json"
                if path.exists():
                    manifest = None
                    with contextlib.suppress(OSError, ValueError):  # being replaced: next scrape
                        manifest = json.loads(path.read_text(encoding="utf-8"))
                    if manifest is not None:
                        yield asset_dir.name, hour, manifest
                hour += timedelta(hours=1)

    def _pipeline_metrics(self, now: datetime) -> list[Metric]:
        pending = GaugeMetricFamily(
            "pige_station_hours_pending",
            "Closed station-hours recorded in the last 48 h that an asset has not processed yet",
            labels=["asset"],
        )
        failed = GaugeMetricFamily(
            "pige_failed_station_steps", "Station-hours an asset failed in the last 24 h", labels=["asset"]
        )
        this_hour = now.replace(minute=0, second=0, microsecond=0)
        recorded = {
            (c.station, c.start.replace(minute=0, second=0, microsecond=0))
            for c in list_chunks(self.data_root, None, this_hour - PENDING_WINDOW, this_hour)
        }
        done: dict[str, set[tuple[str, datetime]]] = {}
        failures: dict[str, int] = {}
        for asset, hour, manifest in self._manifests(now, PENDING_WINDOW):
            seen = done.setdefault(asset, set())
            for key in ("rows", "failed", "no_audio"):
                seen.update((station, hour) for station in manifest.get(key) or {})
            failures.setdefault(asset, 0)
            if hour >= now - FAILED_WINDOW:
                failures[asset] += len(manifest.get("failed") or {})
        for asset in sorted(done):
            pending.add_metric([asset], float(len(recorded - done[asset])))
            failed.add_metric([asset], float(failures.get(asset, 0)))
        return [pending, failed]

    def _notification_metrics(self, now: datetime) -> list[Metric]:
        outbox = GaugeMetricFamily(
            "pige_notification_outbox",
            "Notifications in the outbox per kind and delivery status",
            labels=["kind", "status"],
        )
        dead_air = GaugeMetricFamily(
            "pige_dead_air_alerts",
            "Dead-air alert notifications per delivery status (sent, pending, failed)",
            labels=["status"],
        )
        path = outbox_path(self.data_root)
        counts: list[tuple[str, str, int]] = []
        if path.exists():
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
            try:
                counts = db.execute(
                    "SELECT kind, status, count(*) FROM notifications GROUP BY kind, status"
                ).fetchall()
            finally:
                db.close()
        by_dead_air = {"sent": 0, "pending": 0, "failed": 0}
        for kind, status, count in counts:
            outbox.add_metric([kind, status], float(count))
            if kind == "dead_air":
                by_dead_air[status] = by_dead_air.get(status, 0) + count
        for status, count in sorted(by_dead_air.items()):
            dead_air.add_metric([status], float(count))
        return [outbox, dead_air]

    def _disk_metrics(self, now: datetime) -> list[Metric]:
        health = check_storage(self.data_root, now, record=False)
        metrics = [
            GaugeMetricFamily(
                "pige_disk_used_bytes", "Bytes used on the data root's file system", value=health.used_bytes
            ),
            GaugeMetricFamily(
                "pige_disk_free_bytes", "Bytes free on the data root's file system", value=health.free_bytes
            ),
        ]
        if health.time_to_full is not None:
            metrics.append(
                GaugeMetricFamily(
                    "pige_disk_seconds_until_full",
                    "Predicted seconds until the data root's disk is full, at the observed growth",
                    value=health.time_to_full.total_seconds(),
                )
            )
        if health.days_of_recording_fit is not None:
            metrics.append(
                GaugeMetricFamily(
                    "pige_disk_recording_days_fit",
                    "Days of recording at the current rate that the free space holds",
                    value=health.days_of_recording_fit,
                )
            )
        return metrics


def make_registry(settings: PigeSettings) -> tuple[CollectorRegistry, Histogram]:
    """A registry with the pige collector and the API's latency histogram."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PigeCollector(settings))
    latency = Histogram(
        "pige_api_request_seconds",
        "Time the API took to answer, per route template, method and status",
        ["route", "method", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    return registry, latency
