"""The whole hourly chain on a real chunk in the store: audio_chunks -> audio_analysis (one decode:
silences + fingerprints) -> dead_air_alerts, with the email on a loopback SMTP server."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import numpy as np

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE as RATE
from pige_pipeline.defs.audio.assets import audio_analysis
from pige_pipeline.defs.chunks.assets import audio_chunks
from pige_pipeline.defs.silence.assets import dead_air_alerts
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.store.chunks import chunk_path
from pige_pipeline.store.parquet import read_asset_hour
from pige_pipeline.testing import silence_synth as synth
from pige_pipeline.testing.loopback_smtp import LoopbackSMTP

H = datetime(2026, 3, 2, 14, tzinfo=UTC)


def test_chunk_to_alert_email(data_root: Path, stations_yaml: Path, music: np.ndarray, monkeypatch) -> None:
    # Three minutes from 14:00:00 with 30 s of a 50 Hz hum at 14:01:00.
    audio = np.concatenate([music[: 60 * RATE], synth.hum(30, -40, 50, sample_rate=RATE), music[: 90 * RATE]])
    raw = data_root / "chunk.raw"
    raw.write_bytes(np.clip(np.round(audio), -32768, 32767).astype(np.int16).tobytes())
    dest = chunk_path(data_root, "fm1", H, "mp3")
    dest.parent.mkdir(parents=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(RATE), "-ac", "1",
         "-i", str(raw), "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", str(dest)],
        check=True,
    )  # fmt: skip
    with LoopbackSMTP() as smtp:
        monkeypatch.setenv("PIGE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("PIGE_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("PIGE_ALERT_TO", "regie@radio.test")
        monkeypatch.delenv("OLLAMA_HOST", raising=False)
        result = dg.materialize(
            [audio_chunks, audio_analysis, dead_air_alerts],
            partition_key="2026-03-02-14:00",
            resources=pige_resources(PigeResource(data_root=str(data_root))),
            instance=dg.DagsterInstance.ephemeral(),
        )
        [mail] = smtp.wait_for(1)
    assert result.success
    silences = read_asset_hour(data_root, "silences", "fm1", H)
    assert list(silences["kind"]) == ["hum"]
    assert abs(silences["start_s"].iloc[0] - 60) < 0.3 and abs(silences["end_s"].iloc[0] - 90) < 0.3
    [alert] = read_asset_hour(data_root, "dead_air_alerts", "fm1", H).to_dict("records")
    assert alert["severity"] == "warning" and alert["classification"] == "suspect"
    assert alert["notification_status"] == "sent" and alert["notified_at"] is not None
    assert "Radio Un" in mail["Subject"] and "15:01:00" in mail.get_content()  # Paris time
