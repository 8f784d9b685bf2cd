"""`dead_air_alerts` end to end: silences rows from real audio, stitching across hours, classification,
and email to a real SMTP server on loopback, sent once however often the hour is re-materialised."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.index import update_index
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE as RATE
from pige_pipeline.defs.silence.assets import dead_air_alerts
from pige_pipeline.defs.silence.sensors import notification_outbox
from pige_pipeline.hours import partition_key_for
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.notify import Notification, Notifier, NotifySettings, Outbox, outbox_path
from pige_pipeline.silence.alerts import DEAD_AIR_ALERTS_SCHEMA, dead_air_alert_rows
from pige_pipeline.silence.rows import SILENCES_SCHEMA, silence_rows
from pige_pipeline.stations import SilenceSettings, load_stations
from pige_pipeline.store.parquet import asset_hour_path, read_asset_hour, write_asset_hour, write_table
from pige_pipeline.testing import silence_synth as synth
from pige_pipeline.testing.loopback_smtp import LoopbackSMTP, free_port

H = datetime(2026, 3, 1, 10, tzinfo=UTC)  # 11:00 in Paris
SETTINGS = SilenceSettings()


def pcm(parts: list[np.ndarray]) -> np.ndarray:
    return np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)


def write_silences(data_root: Path, hour: datetime, pieces: list[tuple[float, np.ndarray]]) -> list[dict]:
    rows = silence_rows(pieces, RATE, hour, SETTINGS)
    write_asset_hour(data_root, "silences", "fm1", hour, rows, SILENCES_SCHEMA)
    return rows


@pytest.fixture
def two_hours(data_root: Path, stations_yaml: Path, music: np.ndarray) -> dict[str, list[dict]]:
    """fm1: a digital silence crossing 11:00 UTC (20 s + 10 s), a short pause at the top of hour H,
    a noise floor inside a catalogue track's play, and a hum in the middle of hour H."""
    m = music
    hour_a = [
        (
            0.0,
            pcm(
                [
                    synth.digital_silence(0.5, RATE),
                    m[: 3 * RATE],
                    synth.digital_silence(7, RATE),
                    m[: 20 * RATE],
                ]
            ),
        ),
        (1200.0, pcm([m[: 10 * RATE], synth.hum(25, -38, 50, sample_rate=RATE), m[10 * RATE : 30 * RATE]])),
        (2000.0, pcm([m[: 10 * RATE], synth.noise_floor(6, -62, RATE), m[10 * RATE : 20 * RATE]])),
        (3540.0, pcm([m[: 40 * RATE], synth.digital_silence(20, RATE)])),
    ]
    hour_b = [(0.0, pcm([synth.digital_silence(10, RATE), m[: 30 * RATE]]))]
    a = write_silences(data_root, H, hour_a)
    b = write_silences(data_root, H + timedelta(hours=1), hour_b)

    # What the other domains would have written for hour H: one play spanning the noise floor, words.
    def at(sec: float) -> pd.Timestamp:
        return pd.Timestamp(H + timedelta(seconds=sec))

    # The track's own audio (indexed in the catalogue) has the same 6 s of noise 20 s in: its own pause.
    catalogue = data_root / "catalogue"
    catalogue.mkdir()
    track = pcm([m[: 20 * RATE], synth.noise_floor(6, -62, RATE, seed=5), m[20 * RATE : 40 * RATE]])
    raw = catalogue / "aberrations.raw"
    raw.write_bytes(track.tobytes())
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(RATE), "-ac", "1",
         "-i", str(raw), str(catalogue / "aberrations.wav")],
        check=True,
    )  # fmt: skip
    (catalogue / "catalogue.csv").write_text(
        "track_id,title,artist,isrc,path\nT-ABER,Aberrations,Singularity,,aberrations.wav\n", encoding="utf-8"
    )
    update_index(load_catalogue(catalogue / "catalogue.csv"), data_root / "state" / "catalogue")
    play = {"station": "fm1", "hour": at(0), "track_id": "T-ABER", "title": "Aberrations",
            "artist": "Singularity", "start": at(1990), "end": at(2030), "ref_offset_s": 0.0,
            "speed": 1.0}  # fmt: skip
    write_table(pd.DataFrame([play]), data_root / "parquet/airplay_events/fm1/2026/03/01/10.parquet")
    words = {"station": "fm1", "hour": at(0), "text": "et voici la météo",
             "start": at(1205), "end": at(1209.5), "dropped": False}  # fmt: skip
    write_table(pd.DataFrame([words]), data_root / "parquet/transcripts/fm1/2026/03/01/10.parquet")
    return {"a": a, "b": b}


def materialize(data_root: Path, hour: datetime) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [dead_air_alerts],
        partition_key=partition_key_for(hour),
        resources=pige_resources(PigeResource(data_root=str(data_root))),
        instance=dg.DagsterInstance.ephemeral(),
    )


def smtp_env(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setenv("PIGE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PIGE_SMTP_PORT", str(port))
    monkeypatch.setenv("PIGE_ALERT_TO", "regie@radio.test")
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


def test_silences_rows_flag_the_hour_edges(two_hours: dict[str, list[dict]]) -> None:
    a, b = two_hours["a"], two_hours["b"]
    assert [r["kind"] for r in a] == [
        "digital_silence",
        "digital_silence",
        "hum",
        "noise_floor",
        "digital_silence",
    ]
    assert a[0]["continues_from_previous_hour"] and a[0]["duration_s"] == pytest.approx(
        0.5, abs=0.06
    )  # kept: it touches 0 s
    assert a[-1]["continues_into_next_hour"] and a[-1]["end_s"] == 3600.0
    assert abs(a[-1]["start_s"] - 3580) < 0.25
    assert b[0]["continues_from_previous_hour"] and abs(b[0]["end_s"] - 10) < 0.25
    assert all(r["threshold_db"] == -50 for r in a + b)


def test_alerts_classified_and_emailed_once(data_root, two_hours, monkeypatch) -> None:
    with LoopbackSMTP() as smtp:
        smtp_env(monkeypatch, smtp.port)
        assert materialize(data_root, H).success
        next_hour = materialize(data_root, H + timedelta(hours=1))
        assert next_hour.success
        alerts = read_asset_hour(data_root, "dead_air_alerts", "fm1", H).set_index("start_s", drop=False)
        mails = smtp.wait_for(2)
        # Re-materialising both hours sends nothing more and keeps notified_at.
        assert materialize(data_root, H).success and materialize(data_root, H + timedelta(hours=1)).success
        again = read_asset_hour(data_root, "dead_air_alerts", "fm1", H)
        time.sleep(0.5)
        assert len(smtp.messages) == 2
    assert len(alerts) == 4
    top, hum, noise, crossing = (alerts.iloc[i] for i in range(4))
    assert top["classification"] == "natural" and "top of the hour" in top["explanation"]
    assert top["notified_at"] is pd.NaT or pd.isna(top["notified_at"])
    assert hum["classification"] == "suspect" and hum["severity"] == "warning" and hum["kind"] == "hum"
    assert "et voici la météo" in hum["context_transcript"]
    assert hum["context_start_s"] == pytest.approx(hum["start_s"] - 5)
    assert noise["classification"] == "natural" and "Aberrations" in noise["explanation"]
    assert "the track itself is silent there" in noise["explanation"]
    # One event across the boundary: 20 s in H and 10 s in H+1, each hour's file holding its part of
    # the whole 30 s event under one alert id, notified once.
    assert crossing["duration_s"] == pytest.approx(20, abs=0.3) and crossing["end_s"] == 3600.0
    assert crossing["event_duration_s"] == pytest.approx(30, abs=0.3) and crossing["severity"] == "warning"
    assert not crossing["ongoing"]
    [rest] = read_asset_hour(data_root, "dead_air_alerts", "fm1", H + timedelta(hours=1)).to_dict("records")
    assert rest["alert_id"] == crossing["alert_id"] and rest["start_s"] == 0.0
    assert rest["duration_s"] == pytest.approx(10, abs=0.3) and rest["notification_status"] == "sent"
    assert rest["event_start"] == crossing["event_start"] and rest["event_end"] == crossing["event_end"]
    assert set(again["notified_at"].dropna()) == set(alerts["notified_at"].dropna())
    assert (alerts["notification_status"] == "sent").sum() == 2
    subjects = sorted(m["Subject"] for m in mails)
    assert all("Radio Un" in s and "WARNING" in s and "suspect" in s for s in subjects)
    body = next(m for m in mails if "hum" in m.get_content()).get_content()
    assert "11:20:10" in body and "10:20:10" in body  # local (Paris) and UTC times
    assert "Classification: suspect" in body and "Severity: warning" in body


def test_mail_down_during_the_run_is_delivered_by_the_sensor(data_root, two_hours, monkeypatch) -> None:
    port = free_port()
    smtp_env(monkeypatch, port)
    result = materialize(data_root, H)
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and "not delivered yet" in check.description
    alerts = read_asset_hour(data_root, "dead_air_alerts", "fm1", H)
    assert alerts["notification_status"].str.startswith("pending").sum() == 2
    assert alerts["notified_at"].isna().all()
    with LoopbackSMTP(port=port) as smtp:
        notifier = Notifier(NotifySettings.from_env(), Outbox(outbox_path(data_root)))
        assert [s.status for s in notifier.flush(now=datetime.now(UTC).timestamp() + 3600)] == [
            "sent",
            "sent",
        ]
        # The sensor finds nothing left to do, then the hour re-run records notified_at without resending.
        reason = notification_outbox(
            dg.build_sensor_context(resources=pige_resources(PigeResource(data_root=str(data_root))))
        )
        assert "pending 0" in reason.skip_message
        assert materialize(data_root, H).success
        smtp.wait_for(2)
        time.sleep(0.5)
        assert len(smtp.messages) == 2
    rerun = read_asset_hour(data_root, "dead_air_alerts", "fm1", H)
    assert (rerun["notification_status"] == "sent").sum() == 2 and rerun["notified_at"].notna().sum() == 2


def test_cross_hour_event_in_either_order(data_root, stations_yaml, music) -> None:
    """The later hour ran first, or the earlier hour ran when its silence was still too short: one alert."""
    station = load_stations(stations_yaml).get("fm1")
    m = music
    h2 = H + timedelta(hours=1)

    def part(row: dict) -> tuple:
        return row["alert_id"], row["start"], row["end"]

    def run(hour: datetime) -> list[dict]:
        rows = dead_air_alert_rows(data_root, station, hour, None)
        write_asset_hour(data_root, "dead_air_alerts", "fm1", hour, rows, DEAD_AIR_ALERTS_SCHEMA)
        return rows

    # 3 s before 11:00 and 8 s after. H+1 first, while H has no `silences` yet: it sees 8 s from
    # 11:00:00 and records them; H then records its 3 s under the same id.
    write_silences(data_root, h2, [(0.0, pcm([synth.digital_silence(8, RATE), m[: 20 * RATE]]))])
    [later] = run(h2)
    write_silences(data_root, H, [(3580.0, pcm([m[: 17 * RATE], synth.digital_silence(3, RATE)]))])
    [earlier] = run(H)
    assert earlier["alert_id"] == later["alert_id"] and earlier["end"] == later["start"] == h2
    assert earlier["duration_s"] + later["duration_s"] == pytest.approx(11, abs=0.3)
    assert earlier["event_duration_s"] == pytest.approx(11, abs=0.3) and not earlier["ongoing"]
    # Re-running either hour records the same parts (H+1 now knows the whole event too).
    assert [part(r) for r in run(H) + run(h2)] == [part(earlier), part(later)]

    # Other order: H ran before H+1 existed and saw only 3 s (under alert_seconds): it recorded nothing.
    for hour in (H, h2):
        asset_hour_path(data_root, "silences", "fm1", hour).unlink()
        asset_hour_path(data_root, "dead_air_alerts", "fm1", hour).unlink()
    write_silences(data_root, H, [(3580.0, pcm([m[: 17 * RATE], synth.digital_silence(3, RATE)]))])
    assert run(H) == []
    # H+1 carries H's part, since H will not record it: the whole 11 s, from before its hour began.
    write_silences(data_root, h2, [(0.0, pcm([synth.digital_silence(8, RATE), m[: 20 * RATE]]))])
    [carried] = run(h2)
    assert carried["start_s"] < 0 and carried["duration_s"] == pytest.approx(11, abs=0.3)
    assert carried["start"] == carried["event_start"] and not carried["ongoing"]
    # H re-run now sees the whole event, but H+1 records it all: still nothing in H, nothing twice.
    assert run(H) == [] and [part(r) for r in run(h2)] == [part(carried)]


def test_code_location_has_the_asset_in_process_hour_and_the_sensor() -> None:
    from pige_pipeline.definitions import defs

    assert defs.resolve_sensor_def("notification_outbox") is not None
    job = defs.resolve_job_def("process_hour")
    assert dg.AssetKey("dead_air_alerts") in job.asset_layer.selected_asset_keys


def test_silence_already_paged_live_is_not_emailed_again(data_root, two_hours, monkeypatch) -> None:
    with LoopbackSMTP() as smtp:
        smtp_env(monkeypatch, smtp.port)
        notifier = Notifier(NotifySettings.from_env(), Outbox(outbox_path(data_root)))
        onset = H + timedelta(seconds=1211)  # the live monitor saw the hum start ~1 s late
        page = Notification(
            key="dead_air_live:fm1/page", subject="LIVE dead air on Radio Un", body="hum",
            kind="dead_air_live", data={"station": "fm1", "onset": onset.isoformat()},
        )  # fmt: skip
        assert notifier.send(page, now=(onset + timedelta(seconds=6)).timestamp()).status == "sent"
        assert materialize(data_root, H).success
        time.sleep(0.5)
        subjects = [m["Subject"] for m in smtp.wait_for(2)]
    alerts = read_asset_hour(data_root, "dead_air_alerts", "fm1", H)
    hum = alerts[alerts["kind"] == "hum"].iloc[0]
    assert hum["notification_status"] == "sent (live alert dead_air_live:fm1/page)"
    assert hum["notified_at"] == pd.Timestamp(onset + timedelta(seconds=6))
    # The live page and the hourly alert of the silence crossing 11:00; nothing more for the hum.
    assert len(subjects) == 2 and sum("hum" in s or "LIVE" in s for s in subjects) == 1


def test_llm_classifies_when_configured_and_rules_take_over_when_it_fails(
    data_root, two_hours, stations_yaml, monkeypatch
) -> None:
    from pige_pipeline.silence.llm import llm_classifier_from_env
    from tests.support.fake_ollama import fake_ollama

    station = load_stations(stations_yaml).get("fm1")
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert llm_classifier_from_env() is None
    with fake_ollama() as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        monkeypatch.setenv("PIGE_OLLAMA_RETRIES", "0")
        classifier = llm_classifier_from_env()
        assert classifier is not None
        server.reply_json({"classification": "natural", "confidence": 0.8, "explanation": "network join"})
        server.reply_text("not json at all")  # the second alert: the rules decide
        rows = dead_air_alert_rows(data_root, station, H, None, classifier)[:2]
        asked = json.loads(server.requests[0]["messages"][1]["content"])
    assert rows[0]["classifier"] == "llm:mistral" and rows[0]["explanation"] == "network join"
    assert asked["silence"]["kind"] == "digital_silence" and "rule_based_opinion" in asked
    assert rows[1]["classifier"] == "rules" and "classifier failed: LLMError" in rows[1]["explanation"]
    assert rows[1]["classification"] == "suspect" and rows[1]["kind"] == "hum"
