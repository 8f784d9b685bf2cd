"""The live path for real: a local Icecast stream, the recorder, the monitor, email on loopback.

The source plays 15 s of music, 20 s of digital silence, then music again (looped). The alert must
reach the SMTP server within 60 s of the silence's onset, and the all-clear after audio returns.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pige_pipeline.notify import Notifier, NotifySettings, Outbox, outbox_path
from pige_pipeline.recorder.multi_station import Recorder
from pige_pipeline.recorder.station_loop import RecorderConfig
from pige_pipeline.silence.live import BackgroundSender, LiveSilenceMonitor
from pige_pipeline.stations import Station
from pige_pipeline.testing import silence_synth as synth
from pige_pipeline.testing.icecast import IcecastServer
from pige_pipeline.testing.loopback_smtp import LoopbackSMTP
from pige_pipeline.testing.sources import singularity_tracks

RATE = 44100


@pytest.fixture(scope="module")
def source_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real music (singularity-music) with a 20 s digital silence at 15 s, as a 128 kb/s stream."""
    work = tmp_path_factory.mktemp("live")
    music = synth.load_excerpt(singularity_tracks()[2], 20.0, 40.0, RATE)
    return synth.stream_with_loss(work / "source.mp3", music, 15, 20, RATE)


@pytest.mark.slow
def test_silence_on_a_live_stream_pages_within_a_minute_then_clears(tmp_path: Path, source_mp3: Path) -> None:
    data_root = tmp_path / "data"
    with IcecastServer() as ice, LoopbackSMTP() as smtp:
        notifier = Notifier(
            NotifySettings(smtp_host="127.0.0.1", smtp_port=smtp.port, alert_to=["regie@radio.test"]),
            Outbox(outbox_path(data_root)),
        )
        sender = BackgroundSender(notifier)
        station = Station(id="live", name="Live FM", stream_url=ice.url("/live.mp3"))
        monitor = LiveSilenceMonitor([station], sender)
        recorder = Recorder(data_root, [station], RecorderConfig(segment_seconds=30), sink=monitor)
        ice.add_source("/live.mp3", source_mp3)
        source_started = datetime.now(UTC)
        thread = threading.Thread(target=recorder.run, kwargs={"duration_s": 55}, daemon=True)
        thread.start()
        try:
            mails = smtp.wait_for(2, timeout_s=55)
        finally:
            recorder.stop()
            thread.join(30)
            sender.close()
        time.sleep(0.5)
    assert [kind for _sid, kind, _at in monitor.events][:2] == ["alert", "clear"], monitor.events
    (_, _, alert_at), (_, _, clear_at) = monitor.events[:2]
    assert len(mails) >= 2, [m["Subject"] for m in mails]
    alert, clear = mails[0], mails[1]
    assert "LIVE dead air on Live FM" in alert["Subject"]
    assert "all clear on Live FM" in clear["Subject"]
    expected_onset = source_started.timestamp() + 15
    onset = datetime.fromisoformat(notifier.outbox.get(alert["X-Pige-Key"]).data["onset"])
    # The onset is measured on arrival: within a few seconds of when the source reached the silence.
    assert abs(onset.timestamp() - expected_onset) < 5, (onset, source_started)
    assert (alert_at - onset).total_seconds() <= 60
    assert 5 <= (alert_at - onset).total_seconds() <= 15  # alert_seconds is 5, blocks are 1 s
    assert 18 <= (clear_at - onset).total_seconds() <= 30
    assert notifier.outbox.pending_count() == 0
    after = (alert_at - onset).total_seconds(), (clear_at - onset).total_seconds()
    print(f"alert {after[0]:.1f} s after onset, all-clear {after[1]:.1f} s after onset")
