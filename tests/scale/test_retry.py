"""The station steps' real `RetryPolicy`: a dropped connection or a time-out is retried, a bad chunk is not.

An hourly asset is built with the production factory (`station_hour_asset`), so its station steps carry
STATION_STEP_RETRY as deployed. Its compute does what hourly steps do with the outside world: an HTTP
request to a server (here a loopback one that misbehaves once, per station) and a decode of the
station's chunk with pige's decoder. No production asset lets a time-out through today (the LLM and
AcoustID clients turn theirs into failed rows), so this asset is the one way to see Dagster retry.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.lib.hourly import (
    STATION_STEP_RETRY,
    StationHour,
    station_hour_asset,
)
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.store.chunks import chunk_path, list_chunks
from pige_pipeline.store.parquet import asset_hour_path, read_manifest
from tests.conftest import loop_audio, station_entry

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)
KEY = "2026-11-20-10:00"
# The policy's real delays (5 s, then 10 s) are waited out: ~35 s in all.
pytestmark = pytest.mark.slow
CLIENT_TIMEOUT_S = 1.0
SCHEMA = pa.schema(
    [("station", pa.string()), ("hour", pa.timestamp("us", tz="UTC")), ("now_playing", pa.string()),
     ("samples", pa.int64())]
)  # fmt: skip


class FlakyNowPlaying:
    """A loopback HTTP server answering `GET /<station>` with JSON, misbehaving on purpose per station.

    `reset-once`: the first connection is closed without a reply (ConnectionResetError for the client).
    `slow-once`: the first reply comes after the client's time-out (TimeoutError).
    `down`: every connection is closed without a reply. Anything else answers at once.
    """

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                station = self.path.strip("/")
                with server._lock:
                    server.requests[station] += 1
                    count = server.requests[station]
                if station == "down" or (station == "reset-once" and count == 1):
                    self.close_connection = True
                    return  # no status line: the client sees the connection dropped
                if station == "slow-once" and count == 1:
                    time.sleep(CLIENT_TIMEOUT_S * 3)
                body = json.dumps({"now_playing": f"{station} song"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FlakyNowPlaying:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _now_playing_compute(server_url: str) -> Callable[[StationHour, object], list[dict]]:
    def compute(sh: StationHour, _shared: object) -> list[dict]:
        with urllib.request.urlopen(f"{server_url}/{sh.station.id}", timeout=CLIENT_TIMEOUT_S) as resp:
            now_playing = json.loads(resp.read())["now_playing"]
        samples = sum(len(decode_mono(c.path)) for c in list_chunks(sh.settings.data_root, sh.station.id))
        return [{"now_playing": now_playing, "samples": samples}]

    return compute


@pytest.fixture(scope="module")
def retried_run(
    tmp_path_factory: pytest.TempPathFactory, music_clip: Path
) -> Iterator[tuple[Path, dg.ExecuteInProcessResult, dg.DagsterInstance, FlakyNowPlaying]]:
    root = tmp_path_factory.mktemp("retry") / "data"
    root.mkdir()
    ids = ["steady", "reset-once", "slow-once", "bad-chunk", "down"]
    (root / "stations.yaml").write_text(
        json.dumps({"stations": [station_entry(s) for s in ids]}), encoding="utf-8"
    )
    for sid in ids:
        loop_audio(music_clip, 5, chunk_path(root, sid, HOUR.replace(minute=5), "mp3"))
    # A chunk that is not audio (a copy cut short, a disk error): decoding it fails every time.
    chunk_path(root, "bad-chunk", HOUR.replace(minute=5), "mp3").write_bytes(b"\x00" * 4096)
    with FlakyNowPlaying() as server:
        asset = station_hour_asset(
            name="now_playing_probe",
            description="What each station's now-playing server says, and how much audio its chunks hold.",
            schema=SCHEMA,
            compute=_now_playing_compute(server.url),
        )
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [asset],
                partition_key=KEY,
                instance=instance,
                resources=pige_resources(PigeResource(data_root=str(root))),
                raise_on_error=False,
            )
            yield root, result, instance, server


def _events_by_station(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> Counter[str]:
    """How many `kind` events each station's step had (step keys end in `[b0001_<station>]`)."""
    found: Counter[str] = Counter()
    for record in instance.get_records_for_run(run_id, of_type=kind).records:
        step_key = record.event_log_entry.step_key or ""
        if "[" in step_key:
            found[step_key.split("[", 1)[1].rstrip("]").split("_", 1)[1].replace("_", "-")] += 1
    return found


def test_transient_errors_are_retried_by_the_step_retry_policy(
    retried_run: tuple[Path, dg.ExecuteInProcessResult, dg.DagsterInstance, FlakyNowPlaying],
) -> None:
    root, result, instance, server = retried_run
    assert result.success, "a failing station must not fail the hour"
    retried = _events_by_station(instance, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    # A dropped connection and a time-out each cost one retry, then the step succeeded.
    assert retried["reset-once"] == 1 and server.requests["reset-once"] == 2
    assert retried["slow-once"] == 1 and server.requests["slow-once"] == 2
    for sid in ("reset-once", "slow-once", "steady"):
        table = pq.read_table(asset_hour_path(root, "now_playing_probe", sid, HOUR))
        assert table.column("now_playing").to_pylist() == [f"{sid} song"]
        assert table.column("samples").to_pylist()[0] > 5 * 11025 * 0.9  # the 5 s chunk was decoded
    assert retried["steady"] == 0 and server.requests["steady"] == 1
    # A server that never answers gets the policy's attempts, then the station is recorded as failed.
    assert retried["down"] == STATION_STEP_RETRY.max_retries
    assert server.requests["down"] == STATION_STEP_RETRY.max_retries + 1
    assert not asset_hour_path(root, "now_playing_probe", "down", HOUR).exists()


def test_a_bad_chunk_is_not_retried_and_is_named(
    retried_run: tuple[Path, dg.ExecuteInProcessResult, dg.DagsterInstance, FlakyNowPlaying],
) -> None:
    root, result, instance, server = retried_run
    retried = _events_by_station(instance, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert retried["bad-chunk"] == 0 and server.requests["bad-chunk"] == 1
    assert not asset_hour_path(root, "now_playing_probe", "bad-chunk", HOUR).exists()
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 1 and not checks[0].passed
    assert checks[0].metadata["failed_stations"].value == ["bad-chunk", "down"]
    # The hour's manifest names why, and on which attempt each station's step ended.
    manifest = read_manifest(root, "now_playing_probe", HOUR)
    assert manifest is not None
    assert "could not decode" in manifest["failed"]["bad-chunk"]
    assert "RemoteDisconnected" in manifest["failed"]["down"]
    attempts = {sid: step["attempt"] for sid, step in manifest["steps"].items()}
    assert attempts == {"steady": 0, "reset-once": 1, "slow-once": 1, "bad-chunk": 0, "down": 2}
