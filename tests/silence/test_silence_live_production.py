"""Live alerts through the production path: a real Icecast source, the recorder run that the supervisor
sensor requests, a 20 s loss paged within a minute by email on loopback, the all-clear, and then the
hour's `dead_air_alerts`, which must not mail the same silence again.

The run is the one `recorder_supervisor` asks for (its tags and config), executed in this process with
`execute_in_process`, which keeps the assertions on the run's result close at hand; the same chain
through a real `dagster-daemon` (code location load, sensor tick, run queue, run worker: ~30 s more
on 2 cores) is tests/silence/test_silence_live_daemon.py.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE
from pige_pipeline.defs.recorder.jobs import recorder
from pige_pipeline.defs.recorder.sensors import recorder_supervisor
from pige_pipeline.hours import hour_start
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.notify import Notifier
from pige_pipeline.recorder.state import read_states, request_stop
from pige_pipeline.silence.alerts import dead_air_alert_rows
from pige_pipeline.silence.rows import SILENCES_SCHEMA, silence_rows
from pige_pipeline.stations import load_stations
from pige_pipeline.store.chunks import list_chunks
from pige_pipeline.store.hour_audio import decode_hour_pieces, load_hour_audio, require_parts
from pige_pipeline.store.parquet import write_asset_hour
from pige_pipeline.testing import silence_synth as synth
from pige_pipeline.testing.icecast import IcecastServer
from pige_pipeline.testing.loopback_smtp import LoopbackSMTP
from pige_pipeline.testing.sources import asc_tracks

RATE = 44100


@pytest.fixture(scope="module")
def source_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real music (asc-music) with a 20 s loss at 12 s, as a 128 kb/s stream."""
    work = tmp_path_factory.mktemp("live-prod")
    music = synth.load_excerpt(asc_tracks()[1], 40.0, 45.0, RATE)
    return synth.stream_with_loss(work / "source.mp3", music, 12, 20, RATE)


@pytest.mark.slow
def test_supervised_recorder_pages_live_and_the_hourly_record_does_not_mail_again(
    data_root: Path, source_mp3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with IcecastServer() as ice, LoopbackSMTP() as smtp:
        monkeypatch.setenv("PIGE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("PIGE_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("PIGE_ALERT_TO", "regie@radio.test")
        monkeypatch.delenv("OLLAMA_HOST", raising=False)
        station = {
            "id": "fm1",
            "name": "Radio Un",
            "stream_url": ice.url("/fm1.mp3"),
            "timezone": "Europe/Paris",
        }
        (data_root / "stations.yaml").write_text(yaml.safe_dump({"stations": [station]}), encoding="utf-8")
        resources = pige_resources(PigeResource(data_root=str(data_root)))
        with dg.DagsterInstance.ephemeral() as instance:
            tick = recorder_supervisor(dg.build_sensor_context(instance=instance, resources=resources))
            [request] = tick.run_requests
            ice.add_source("/fm1.mp3", source_mp3)
            source_started = time.time()
            outcome: dict[str, dg.ExecuteInProcessResult] = {}

            def run_recorder() -> None:
                outcome["run"] = recorder.execute_in_process(
                    instance=instance, tags=request.tags, run_config=request.run_config, resources=resources
                )

            thread = threading.Thread(target=run_recorder, daemon=True)
            thread.start()
            try:
                mails = smtp.wait_for(2, timeout_s=70)
            finally:
                for state in read_states(data_root):
                    request_stop(data_root, state.recorder_id, "test over")
                thread.join(60)
        assert outcome["run"].success
        assert len(mails) == 2, [m["Subject"] for m in mails]
        alert, clear = mails
        assert "LIVE dead air on Radio Un" in alert["Subject"] and "all clear on Radio Un" in clear["Subject"]
        notifier = Notifier.from_env(data_root)
        page = notifier.outbox.get(alert["X-Pige-Key"])
        assert page is not None and page.data["station"] == "fm1"
        onset = datetime.fromisoformat(page.data["onset"])
        # The loss starts 12 s into the source; the page is sent well within a minute of it.
        assert abs(onset.timestamp() - (source_started + 12)) < 6, (onset, source_started)
        paged = notifier.outbox.state(alert["X-Pige-Key"])
        assert paged is not None and paged.notified_at is not None
        assert (paged.notified_at - onset).total_seconds() <= 60
        cleared = notifier.outbox.get(clear["X-Pige-Key"])
        assert cleared is not None
        back = datetime.fromisoformat(cleared.data["back_at"])
        assert 16 <= (back - onset).total_seconds() <= 26

        # The hour's record, from the chunks the run wrote (the functions `audio_analysis` and
        # `dead_air_alerts` run): the silence is there, suspect, and marked as already paged.
        fm1 = load_stations(data_root / "stations.yaml").get("fm1")
        hours = sorted({hour_start(c.start) for c in list_chunks(data_root, "fm1")})
        assert hours, "the recorder published no chunk"
        rows = []
        for hour in hours:
            pieces = decode_hour_pieces(
                require_parts(load_hour_audio(data_root, "fm1", hour)), ANALYSIS_SAMPLE_RATE
            )
            found = silence_rows(pieces, ANALYSIS_SAMPLE_RATE, hour, fm1.silence)
            write_asset_hour(data_root, "silences", "fm1", hour, found, SILENCES_SCHEMA)
        for hour in hours:
            rows += dead_air_alert_rows(data_root, fm1, hour, notifier)
        [loss] = [r for r in rows if r["event_duration_s"] >= 15]
        assert loss["classification"] == "suspect"
        assert loss["notification_status"].startswith("sent (live alert dead_air_live:"), loss
        assert abs((loss["event_start"] - onset).total_seconds()) < 6
        time.sleep(1.0)
        assert len(smtp.messages) == 2, [m["Subject"] for m in smtp.messages]
    print(f"paged {(paged.notified_at - onset).total_seconds():.1f} s after the loss began")
