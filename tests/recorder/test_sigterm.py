"""`pige record` stopped by SIGTERM (systemd's stop): the chunk being written is closed and published."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from pige_pipeline.audio.probe import probe_audio
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.testing.icecast import IcecastServer

PIGE = Path(sys.executable).with_name("pige")
RECORD_S = 12


def test_sigterm_closes_and_publishes_the_last_chunk(
    tmp_path: Path, ice: IcecastServer, stream_mp3: Path
) -> None:
    data_root = tmp_path / "data"
    ice.add_source("/a.mp3", stream_mp3)
    stations = tmp_path / "stations.yaml"
    entry = {"id": "a", "name": "A", "stream_url": ice.url("/a.mp3")}
    stations.write_text(yaml.safe_dump({"stations": [entry]}), encoding="utf-8")
    log = tmp_path / "record.log"
    # Hourly chunks, as in production: the chunk being written when SIGTERM comes is the only one.
    args = [str(PIGE), "record", "--stations", str(stations), "--data-root", str(data_root)]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            time.sleep(RECORD_S)
            incoming = [p for p in (data_root / "recorder" / "incoming").rglob("*") if p.is_file()]
            assert any(p.suffix == ".mp3" for p in incoming), f"nothing being recorded: {log.read_text()}"
            assert not list_chunks(data_root, "a"), "a chunk was published before the hour (or SIGTERM) ended"
            proc.send_signal(signal.SIGTERM)
            stopped_at = datetime.now(UTC)
            status = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log.read_text()
    assert status == 0, output

    # The chunk is in the store, readable to its end, and ends when SIGTERM came (+- the last second).
    chunks = list_chunks(data_root, "a")
    assert chunks, f"no chunk published after SIGTERM: {output}"
    # Near an hour boundary the recording is cut in two; the last one is the one SIGTERM closed.
    last = chunks[-1]
    duration = probe_audio(last.path).duration_s
    assert duration and duration > 1, f"{last.path} holds {duration} s of audio"
    end = last.start + timedelta(seconds=duration)
    assert abs((end - stopped_at).total_seconds()) < 2.5, f"last chunk ends at {end}, SIGTERM at {stopped_at}"
    recorded = sum(probe_audio(c.path).duration_s or 0 for c in chunks)
    # Audio starts once ffmpeg has connected: a second or two after launch on an idle machine.
    assert RECORD_S - 8 < recorded <= RECORD_S + 1, f"{recorded:.1f} s recorded in a {RECORD_S} s run"
    # Nothing is left half-written: no staged segment, no temporary file beside the chunks.
    left = [p for p in (data_root / "recorder" / "incoming").rglob("*") if p.is_file() and p.suffix != ".csv"]
    assert not [p for p in left if p.suffix == ".mp3"], f"segments left in staging: {left}"
    strays = [p for p in (data_root / "chunks").rglob("*") if p.is_file() and p.suffix != ".mp3"]
    assert not strays, f"temporary files left in the store: {strays}"
    assert "station 'a': 1 chunks" in output or "station 'a': 2 chunks" in output, output
