"""Audio lost when a station's ffmpeg is SIGKILLed and the recorder reconnects it (one station, no load).

    .venv/bin/python -m benchmarks.recorder_reconnect --kills 5

One station on a local Icecast (32 kb/s MP3 of real music, burst-on-connect off, as in the soak),
recorded with 10 s segments. Every 20 s the station's ffmpeg is SIGKILLed. The loss of a kill is the
sum of the holes between chunks from 1 s before the kill to 12 s after it (chunk starts from their
names, which are whole seconds, so the first chunk after a reconnection can show part of the hole
at the next boundary: both parts are counted). Prints each kill's loss and the median, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pige_pipeline.audio.probe import probe_audio
from pige_pipeline.recorder.multi_station import Recorder
from pige_pipeline.recorder.publish import incoming_dir
from pige_pipeline.recorder.station_loop import RecorderConfig
from pige_pipeline.stations import Station
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.testing.icecast import IcecastServer
from pige_pipeline.testing.sources import singularity_tracks


def holes(data_root: Path, station: str, lo: datetime, hi: datetime) -> float:
    spans = []
    for chunk in list_chunks(data_root, station):
        spans.append((chunk.start, chunk.start + timedelta(seconds=probe_audio(chunk.path).duration_s)))
    lost = 0.0
    for (_s1, end1), (start2, _e2) in zip(spans, spans[1:], strict=False):
        if lo <= end1 <= hi and (start2 - end1).total_seconds() > 0.05:
            lost += (start2 - end1).total_seconds()
    return lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pige-reconnect-"))
    mp3 = work / "music.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(singularity_tracks()[1]), "-t", "120",
         "-ac", "2", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "32k", str(mp3)],
        check=True,
    )  # fmt: skip
    data_root = work / "data"
    kills: list[datetime] = []
    with IcecastServer() as ice:
        ice.add_source("/a.mp3", mp3)
        station = Station(id="a", name="A", stream_url=ice.url("/a.mp3"))
        recorder = Recorder(data_root, [station], RecorderConfig(segment_seconds=10), recorder_id="bench")
        thread = threading.Thread(target=recorder.run, daemon=True)
        thread.start()
        time.sleep(13)
        for _ in range(args.kills):
            sessions = sorted(incoming_dir(data_root, "a").glob("*/session.json"))
            pid = json.loads(sessions[-1].read_text())["ffmpeg_pid"]
            kills.append(datetime.now(UTC))
            os.kill(pid, signal.SIGKILL)
            time.sleep(20)
        recorder.stop()
        thread.join(30)
    losses = [
        round(holes(data_root, "a", k - timedelta(seconds=1), k + timedelta(seconds=12)), 2) for k in kills
    ]
    print(json.dumps({"kills": len(kills), "loss_s": losses, "median_loss_s": statistics.median(losses)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
