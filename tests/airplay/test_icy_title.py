"""A catalogue track streamed through Icecast with its ICY title, recorded, then found by the airplay asset.

The play's `icy_title` is what the station announced while the track aired: the recorder stores the
`StreamTitle` changes it hears, and `airplay_events` keeps the title announced for most of the play.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from pige_pipeline.hours import hour_start, partition_key_for
from pige_pipeline.recorder.nowplaying import read_nowplaying
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.store.parquet import read_asset_hour
from pige_pipeline.testing.icecast import IcecastServer

from .conftest import Catalogue, ffmpeg

PIGE = Path(sys.executable).with_name("pige")
JINGLE_S = 5.0  # out-of-catalogue music under the station's own title, before the track
TRACK_S = 18.0
JINGLE_TITLE = "Radio Test - Le jingle"
TRACK_TITLE = "Singularity - Aberrations"
# The catalogue index, then for each hour given: fingerprints (audio_analysis), then plays (airplay_events).
PROCESS_HOURS = """
import sys
import dagster as dg
from pige_pipeline.defs.airplay.assets import airplay_events, catalogue
from pige_pipeline.defs.audio.assets import audio_analysis
from pige_pipeline.lib.resources import pige_resources

resources = pige_resources()
with dg.instance_for_test() as instance:
    assert dg.materialize([catalogue], instance=instance, resources=resources).success
    for key in sys.argv[1:]:
        for asset in (audio_analysis, airplay_events):
            assert dg.materialize([asset], partition_key=key, instance=instance, resources=resources).success
"""


@pytest.mark.slow  # ~25 s of real-time streaming, then two Dagster runs
def test_the_play_carries_the_icy_title_announced_during_it(
    small_catalogue: Catalogue, tmp_path: Path
) -> None:
    data_root = tmp_path / "data"
    shutil.copytree(small_catalogue.dir, data_root / "catalogue")
    # What the studio plays: other music, then the catalogue's SNG-002, as a 128 kb/s MP3 stream.
    broadcast = tmp_path / "broadcast.mp3"
    ffmpeg(
        "-t", str(JINGLE_S), "-i", str(small_catalogue.outside), "-t", str(TRACK_S),
        "-i", str(small_catalogue.tracks["SNG-002"]), "-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1",
        "-ac", "2", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", str(broadcast),
    )  # fmt: skip
    with IcecastServer() as ice:
        entry = {"id": "fm1", "name": "FM 1", "stream_url": ice.url("/fm1.mp3")}
        (data_root / "stations.yaml").write_text(yaml.safe_dump({"stations": [entry]}), encoding="utf-8")
        log = tmp_path / "record.log"
        # The recorder waits for the mount (short back-off), so it hears the stream from its first second.
        args = [
            str(PIGE),
            "record",
            "--data-root",
            str(data_root),
            "--backoff-max",
            "0.3",
            "--no-live-alerts",
        ]
        with log.open("wb") as out:
            recorder = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                started = time.monotonic()
                ice.add_source("/fm1.mp3", broadcast, loop=False, name="FM 1")
                ice.set_title("/fm1.mp3", JINGLE_TITLE)
                time.sleep(max(0.0, started + JINGLE_S - time.monotonic()))
                ice.set_title("/fm1.mp3", TRACK_TITLE)
                time.sleep(TRACK_S + 1)
                recorder.send_signal(signal.SIGTERM)
                assert recorder.wait(30) == 0, log.read_text()
            finally:
                if recorder.poll() is None:
                    recorder.kill()
                    recorder.wait()
    output = log.read_text()
    now = datetime.now(UTC)
    titles = [t.stream_title for t in read_nowplaying(data_root, "fm1", now - timedelta(minutes=5), now)]
    assert titles == [JINGLE_TITLE, TRACK_TITLE], output

    # The hourly assets on what was recorded: fingerprints, then plays (an hour boundary may split it).
    hours = sorted({hour_start(c.start) for c in list_chunks(data_root, "fm1")})
    assert hours, f"nothing recorded: {output}"
    # The hour is still under way: process it provisionally, as the soak does (PIGE_PARTITIONS_END_OFFSET=1
    # makes it a partition; it is read when the definitions load, hence a fresh process).
    env = {**os.environ, "PIGE_PARTITIONS_END_OFFSET": "1", "PIGE_DATA_ROOT": str(data_root)}
    keys = [partition_key_for(hour) for hour in hours]
    run = subprocess.run(
        [sys.executable, "-c", PROCESS_HOURS, *keys], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    plays = [
        row
        for hour in hours
        for row in read_asset_hour(data_root, "airplay_events", "fm1", hour).to_dict("records")
    ]
    assert [p["track_id"] for p in plays] == ["SNG-002"] * len(plays) and plays, plays
    longest = max(plays, key=lambda p: p["duration_s"])
    assert longest["duration_s"] >= TRACK_S - 5, plays
    # Announced as the track started: the jingle's title, on air just before, is not the play's.
    assert {p["icy_title"] for p in plays} == {TRACK_TITLE}
    assert longest["title"] == "Aberrations"  # the catalogue's title, beside the station's announcement
