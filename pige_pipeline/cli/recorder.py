"""`pige record` (the recorder without Dagster) and `pige stations probe` (check each stream)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer

from pige_pipeline.cli.common import DataRootOption, StationsOption, fail, resolve_settings
from pige_pipeline.recorder.groups import describe, groups_of, parse_groups
from pige_pipeline.recorder.live import DeferredSink, LiveAudioSink
from pige_pipeline.recorder.multi_station import Recorder
from pige_pipeline.recorder.probe import probe_stream
from pige_pipeline.recorder.recordable import load_recordable_stations
from pige_pipeline.recorder.station_loop import RecorderConfig
from pige_pipeline.stations import StationsFileError


def record(
    stations: StationsOption = None,
    data_root: DataRootOption = None,
    segment_seconds: Annotated[
        int,
        typer.Option("--segment-seconds", min=1, help="Chunk length, cut on the UTC clock (3600 = hourly)."),
    ] = 3600,
    duration: Annotated[
        float | None,
        typer.Option("--duration", min=0, help="Stop after this many seconds (default: run until stopped)."),
    ] = None,
    backoff_max: Annotated[
        float, typer.Option("--backoff-max", min=0.1, help="Longest wait between reconnection attempts (s).")
    ] = 5.0,
    icy: Annotated[bool, typer.Option("--icy/--no-icy", help="Record ICY now-playing titles.")] = True,
    live_alerts: Annotated[
        bool,
        typer.Option(
            "--live-alerts/--no-live-alerts",
            help="Page on dead air within a minute (PIGE_SMTP_*/PIGE_WEBHOOK_URLS); stations opt out with "
            "silence.live_alerts: false.",
        ),
    ] = True,
    recorder_id: Annotated[
        str | None,
        typer.Option("--recorder-id", help="Name of this recorder in state files (default: host-pid)."),
    ] = None,
    groups: Annotated[
        str | None,
        typer.Option(
            "--groups",
            help="Record only the stations of these recorder groups (comma-separated, e.g. a,b; "
            "default: every station).",
        ),
    ] = None,
) -> None:
    """Record every enabled station into the chunk store until interrupted (SIGINT/SIGTERM close chunks)."""
    settings = resolve_settings(data_root, stations)
    try:
        only = parse_groups(groups)
    except ValueError as exc:
        fail(f"--groups: {exc}")
    try:
        registry, _errors = load_recordable_stations(settings.stations_file)
    except StationsFileError as exc:
        fail(str(exc))
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    config = RecorderConfig(segment_seconds=segment_seconds, backoff_max_s=backoff_max, icy=icy)

    def event(message: str) -> None:
        typer.echo(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {message}", err=message.startswith("error"))

    # Built on a thread: the detector's imports must not delay the ffmpegs (audio lost at start-up).
    live = None
    if live_alerts:

        def build_live_alerts() -> LiveAudioSink:
            from pige_pipeline.silence.live import LiveAlerts

            return LiveAlerts(settings.data_root, settings.stations_file)

        live = DeferredSink(build_live_alerts, "live dead-air alerts")
    recorder = Recorder(
        settings.data_root,
        settings.stations_file,
        config,
        recorder_id=recorder_id,
        on_event=event,
        groups=only,
        sink=live,
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: recorder.stop())
    event(
        f"recorder {recorder.recorder_id}: data root {settings.data_root}, segments of {segment_seconds} s, "
        f"recording {describe(only)}"
    )
    if only is not None and not only & groups_of(registry):
        # Not an error: stations can be moved into these groups while it runs (stations.yaml is watched).
        event(f"no enabled station is in {describe(only)} yet; waiting for stations.yaml to name one")
    if live:
        threading.Thread(target=lambda: event(live.describe()), daemon=True).start()
    else:
        event("live dead-air alerts off (--no-live-alerts)")
    try:
        stats = recorder.run(duration)
    finally:
        if live:
            live.close()
    for sid, st in sorted(stats.items()):
        event(
            f"station {sid!r}: {st.segments} chunks, {st.seconds:.1f} s recorded, {st.sessions} connections, "
            f"{len(st.gaps)} gaps, {st.titles} titles" + (f", last error: {st.error}" if st.error else "")
        )
    if recorder.config_errors:
        raise typer.Exit(1)


def probe(
    stations: StationsOption = None,
    data_root: DataRootOption = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds allowed per stream.")] = 15.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per station.")] = False,
) -> None:
    """Check each enabled stream: reachable, codec, bitrate, ICY name, time to first byte."""
    settings = resolve_settings(data_root, stations)
    try:
        registry, errors = load_recordable_stations(settings.stations_file)
    except StationsFileError as exc:
        fail(str(exc))
        return
    for message in errors:
        typer.echo(f"error: {message}", err=True)
    bad = len(errors)
    for station in registry:
        result = probe_stream(station.stream_url, timeout)
        if as_json:
            typer.echo(json.dumps({"station": station.id, **result.as_dict()}))
        elif result.error:
            typer.echo(f"{station.id:<20} FAIL  {result.error}")
        else:
            kbps = f"{result.bitrate // 1000} kb/s" if result.bitrate else "? kb/s"
            typer.echo(
                f"{station.id:<20} ok    {result.codec} {kbps} {result.sample_rate} Hz {result.channels} ch, "
                f"first byte {result.ttfb_s * 1000:.0f} ms, ICY name {result.icy_name!r}, "
                f"titles {'yes' if result.icy_metaint else 'no'}  {result.url}"
            )
        bad += bool(result.error)
    if bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    from pige_pipeline.cli.stations import stations_app

    app.command("record")(record)
    stations_app.command("probe")(probe)
