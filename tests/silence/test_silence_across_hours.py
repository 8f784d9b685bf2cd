"""Dead air still going on at the end of an hour: one alert, one notification, and once both hours have
run (in any order, without re-running either) an audited record of the whole event, in the hourly
Parquet and in analytics' `dead_air_events`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from pige_pipeline.analytics import connect, rebuild
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE as RATE
from pige_pipeline.defs.silence.assets import dead_air_alerts
from pige_pipeline.hours import partition_key_for
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.settings import PigeSettings
from pige_pipeline.silence.rows import SILENCES_SCHEMA, silence_rows
from pige_pipeline.stations import SilenceSettings
from pige_pipeline.store.parquet import asset_hour_path, read_asset_hour, read_asset_range, write_asset_hour
from pige_pipeline.testing import silence_synth as synth
from pige_pipeline.testing.loopback_smtp import LoopbackSMTP

H = datetime(2026, 3, 1, 10, tzinfo=UTC)
H2 = H + timedelta(hours=1)
START, END = H + timedelta(minutes=59, seconds=50), H2 + timedelta(seconds=20)  # 10:59:50 to 11:00:20


def pcm(parts: list[np.ndarray]) -> np.ndarray:
    return np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)


def write_silences(data_root: Path, hour: datetime, music: np.ndarray) -> None:
    """Detect the silences of the hour's audio: music then 10 s of digital zero, or 20 s then music."""
    if hour == H:
        pieces = [(3540.0, pcm([music[: 50 * RATE], synth.digital_silence(10, RATE)]))]
    else:
        pieces = [(0.0, pcm([synth.digital_silence(20, RATE), music[: 40 * RATE]]))]
    rows = silence_rows(pieces, RATE, hour, SilenceSettings())
    write_asset_hour(data_root, "silences", "fm1", hour, rows, SILENCES_SCHEMA)


def materialize(data_root: Path, hour: datetime) -> None:
    result = dg.materialize(
        [dead_air_alerts],
        partition_key=partition_key_for(hour),
        resources=pige_resources(PigeResource(data_root=str(data_root))),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.description


def dead_air_events(data_root: Path, stations_yaml: Path) -> pd.DataFrame:
    """The audited record as the dead-air report reads it: analytics rebuilt from the hourly files."""
    rebuild(PigeSettings(data_root, stations_yaml, data_root / "catalogue" / "catalogue.csv"))
    con = connect(data_root)
    try:
        return con.execute("SELECT * FROM dead_air_events").fetchdf()
    finally:
        con.close()


ORDERS = {
    # Production: the hour is processed as soon as it closes, while the silence is still going on.
    "earlier_hour_while_still_silent": [("silences", H), ("alerts", H), ("silences", H2), ("alerts", H2)],
    # A backfill or a late chunk: the later hour's alerts run before the earlier hour's silences exist.
    "later_hour_first": [("silences", H2), ("alerts", H2), ("silences", H), ("alerts", H)],
    "both_silences_then_in_order": [("silences", H), ("silences", H2), ("alerts", H), ("alerts", H2)],
    "both_silences_then_reversed": [("silences", H), ("silences", H2), ("alerts", H2), ("alerts", H)],
}


@pytest.mark.parametrize("order", ORDERS)
def test_silence_across_the_hour_is_one_alert_and_one_complete_record(
    order: str, data_root: Path, stations_yaml: Path, music: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LoopbackSMTP() as smtp:
        monkeypatch.setenv("PIGE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("PIGE_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("PIGE_ALERT_TO", "regie@radio.test")
        monkeypatch.delenv("OLLAMA_HOST", raising=False)
        written: dict[datetime, bytes] = {}
        for step, hour in ORDERS[order]:
            if step == "silences":
                write_silences(data_root, hour, music)
                continue
            materialize(data_root, hour)
            # One hour's run never rewrites the other hour's file: the record grows, it is not edited.
            for other, content in written.items():
                assert asset_hour_path(data_root, "dead_air_alerts", "fm1", other).read_bytes() == content
            written[hour] = asset_hour_path(data_root, "dead_air_alerts", "fm1", hour).read_bytes()
        first = read_asset_range(data_root, "dead_air_alerts", H, H2 + timedelta(hours=1))
        [mail] = smtp.wait_for(1)
        # Re-running both hours, in both orders, records the same parts and sends nothing more.
        for hour in (H, H2, H2, H):
            materialize(data_root, hour)
        time.sleep(0.5)
        assert len(smtp.messages) == 1
    rows = read_asset_range(data_root, "dead_air_alerts", H, H2 + timedelta(hours=1)).sort_values("start")
    assert rows[["alert_id", "start", "end"]].equals(first.sort_values("start")[["alert_id", "start", "end"]])

    # One alert id; its parts tile the event without overlap, one per hour file.
    assert rows["alert_id"].nunique() == 1 and list(rows["hour"]) == [pd.Timestamp(H), pd.Timestamp(H2)]
    assert rows["start"].iloc[0] == pytest.approx(pd.Timestamp(START), abs=pd.Timedelta(seconds=0.25))
    assert rows["end"].iloc[0] == rows["start"].iloc[1] == pd.Timestamp(H2)
    assert rows["end"].iloc[1] == pytest.approx(pd.Timestamp(END), abs=pd.Timedelta(seconds=0.25))
    assert rows["duration_s"].sum() == pytest.approx(30, abs=0.3)
    # The later hour's row, written last of the two or not, knows the whole event and that it ended.
    whole = rows.iloc[1]
    assert whole["event_duration_s"] == pytest.approx(30, abs=0.3) and not whole["ongoing"]
    assert whole["event_start"] == rows["start"].iloc[0] and whole["event_end"] == rows["end"].iloc[1]
    assert whole["severity"] == "warning" and whole["classification"] == "suspect"
    assert whole["notification_status"] == "sent" and pd.notna(whole["notified_at"])

    # The email names the alert id the record keeps.
    assert f"Alert id: {whole['alert_id']}" in mail.get_content()
    if order != "later_hour_first":  # that one mailed what H+1 saw alone: 20 s from 11:00:00
        assert "Duration: 30.0 s" in mail.get_content() or "Duration: 29.9 s" in mail.get_content()

    # Analytics (and so the dead-air report) has one event of 30 s, notified.
    [event] = dead_air_events(data_root, stations_yaml).to_dict("records")
    assert event["alert_id"] == whole["alert_id"] and event["segments"] == 2
    assert event["duration_s"] == pytest.approx(30, abs=0.3)
    assert (event["end"] - event["start"]).total_seconds() == pytest.approx(30, abs=0.3)
    assert event["classification"] == "suspect" and pd.notna(event["notified_at"])
    assert event["notification_status"] == "sent"  # not the earlier hour's "not_sent (natural)" part


def silence_row(hour: datetime, start_s: float, end_s: float) -> dict:
    """A `silences` row as the detector writes it (digital zero), for silences longer than an hour."""
    return {
        "start": hour + timedelta(seconds=start_s), "end": hour + timedelta(seconds=end_s),
        "start_s": start_s, "end_s": end_s, "duration_s": end_s - start_s, "level_db": -90.0,
        "kind": "digital_silence", "threshold_db": -50.0, "continues_from_previous_hour": start_s <= 0.05,
        "continues_into_next_hour": end_s >= 3599.95, "min_seconds": 2.0, "fade_db_per_s": None,
        "floor_db": -120.0, "level_sd_db": None, "spectral_change": None, "tonal_share": 0.0,
        "mains_hz": None, "why": "digital silence: median frame level -120 dBFS",
    }  # fmt: skip


def test_silence_over_three_hours_is_one_alert(
    data_root: Path, stations_yaml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transmitter off from 09:59:50 to 11:00:10: three hours, one id, one mail, every second once."""
    h0 = H - timedelta(hours=1)
    silences = {h0: [(3590.0, 3600.0)], H: [(0.0, 3600.0)], H2: [(0.0, 10.0)]}
    with LoopbackSMTP() as smtp:
        monkeypatch.setenv("PIGE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("PIGE_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("PIGE_ALERT_TO", "regie@radio.test")
        monkeypatch.delenv("OLLAMA_HOST", raising=False)
        # The middle hour first, with only its own silences; then the last hour; then the first one.
        for hour in (H, H2, h0):
            rows = [silence_row(hour, a, b) for a, b in silences[hour]]
            write_asset_hour(data_root, "silences", "fm1", hour, rows, SILENCES_SCHEMA)
            materialize(data_root, hour)
        smtp.wait_for(1)
        time.sleep(0.5)
        assert len(smtp.messages) == 1
    rows = read_asset_range(data_root, "dead_air_alerts", h0, H2 + timedelta(hours=1)).sort_values("start")
    assert rows["alert_id"].nunique() == 1 and len(rows) == 3
    assert list(rows["start"].iloc[1:]) == list(rows["end"].iloc[:-1])  # they tile, no overlap
    assert rows["duration_s"].sum() == pytest.approx(3620)
    # The first hour ran last and read as far as the silence went: it knows the whole event.
    first = read_asset_hour(data_root, "dead_air_alerts", "fm1", h0).iloc[0]
    assert first["event_duration_s"] == pytest.approx(3620) and first["severity"] == "critical"
    assert first["event_end"] == pd.Timestamp(H2 + timedelta(seconds=10)) and not first["ongoing"]
    [event] = dead_air_events(data_root, stations_yaml).to_dict("records")
    assert event["duration_s"] == pytest.approx(3620) and event["segments"] == 3
