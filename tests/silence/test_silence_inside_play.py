"""Silences inside a play: programme lost in the middle of a song is suspect and mailed once; a pause
that the track itself has (its catalogue audio is silent there too) stays natural.

Everything is real: the catalogue is indexed from real music files, the hour's plays come from the
matcher on the hour's own fingerprints, the alerts from the `dead_air_alerts` asset, and the mail
goes to an aiosmtpd server on loopback.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.events import AIRPLAY_EVENTS_SCHEMA, play_rows
from pige_pipeline.airplay.fingerprint import fingerprint_rows
from pige_pipeline.airplay.index import update_index
from pige_pipeline.airplay.matcher import match_fingerprint_rows
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE as RATE
from pige_pipeline.defs.silence.assets import dead_air_alerts
from pige_pipeline.hours import partition_key_for
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.notify import Notifier
from pige_pipeline.silence.rows import SILENCES_SCHEMA, silence_rows
from pige_pipeline.stations import SilenceSettings
from pige_pipeline.store.parquet import read_asset_hour, write_asset_hour
from pige_pipeline.testing import silence_synth as synth
from pige_pipeline.testing.loopback_smtp import LoopbackSMTP
from pige_pipeline.testing.sources import drascula_tracks, singularity_tracks

H = datetime(2026, 3, 1, 14, tzinfo=UTC)  # 15:00 in Paris: far from the top of the hour below


def pcm(parts: list[np.ndarray]) -> np.ndarray:
    return np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)


def sec(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    return audio[round(start * RATE) : round(end * RATE)]


def write_wav(path: Path, samples: np.ndarray) -> Path:
    raw = path.with_suffix(".raw")
    raw.write_bytes(samples.tobytes())
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(RATE), "-ac", "1",
         "-i", str(raw), str(path)],
        check=True,
    )  # fmt: skip
    raw.unlink()
    return path


@pytest.fixture
def hour_with_plays(data_root: Path, stations_yaml: Path) -> dict[str, float]:
    """A catalogue of two real tracks, one with a 6 s pause of its own; an hour that plays the first with
    8 s and 16 s of it lost to silence, then the second intact (its pause included)."""
    song = pcm([synth.load_excerpt(singularity_tracks()[3], 10.0, 100.0)])
    other = pcm([synth.load_excerpt(singularity_tracks()[5], 10.0, 50.0)])
    with_pause = pcm([sec(other, 0, 25), synth.digital_silence(6, RATE), sec(other, 25, 50)])
    catalogue_dir = data_root / "catalogue"
    catalogue_dir.mkdir()
    write_wav(catalogue_dir / "song.wav", song)
    write_wav(catalogue_dir / "with_pause.wav", with_pause)
    (catalogue_dir / "catalogue.csv").write_text(
        "track_id,title,artist,isrc,path\n"
        "T-SONG,Lost Song,Singularity,,song.wav\n"
        "T-PAUSE,Song With A Rest,Singularity,,with_pause.wav\n",
        encoding="utf-8",
    )
    index = update_index(
        load_catalogue(catalogue_dir / "catalogue.csv"), data_root / "state" / "catalogue"
    ).index
    filler = synth.load_excerpt(drascula_tracks()[0], 0.0, 20.0)  # not in the catalogue
    # Seconds into the piece: filler 0-20, song 20-110 (silences 45-53 and 70-86), song with a rest
    # 110-166 (its own pause 135-141), filler 166-186.
    piece = pcm(
        [
            filler,
            sec(song, 0, 25),
            synth.digital_silence(8, RATE),  # the song's 25-33 s lost
            sec(song, 33, 50),
            synth.digital_silence(16, RATE),  # the song's 50-66 s lost
            sec(song, 66, 90),
            with_pause,
            filler,
        ]
    )
    offset = 1200.0
    pieces = [(offset, piece)]
    settings = SilenceSettings(threshold_db=-50, min_seconds=2, alert_seconds=5)
    write_asset_hour(
        data_root, "silences", "fm1", H, silence_rows(pieces, RATE, H, settings), SILENCES_SCHEMA
    )
    plays = match_fingerprint_rows(index, fingerprint_rows(pieces, RATE))
    rows = play_rows("fm1", H, plays, index)
    write_asset_hour(data_root, "airplay_events", "fm1", H, rows, AIRPLAY_EVENTS_SCHEMA)
    return {"offset": offset, "plays": len(rows)}


def materialize(data_root: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [dead_air_alerts],
        partition_key=partition_key_for(H),
        resources=pige_resources(PigeResource(data_root=str(data_root))),
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_programme_lost_inside_a_song_is_suspect_and_mailed_once(
    data_root: Path, hour_with_plays: dict[str, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    plays = read_asset_hour(data_root, "airplay_events", "fm1", H)
    assert plays is not None
    # The matcher bridges both losses: the lost song is one play, as on a real station.
    assert sorted(plays["track_id"]) == ["T-PAUSE", "T-SONG"], plays[["track_id", "start_s", "end_s"]]
    with LoopbackSMTP() as smtp:
        monkeypatch.setenv("PIGE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("PIGE_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("PIGE_ALERT_TO", "regie@radio.test")
        monkeypatch.delenv("OLLAMA_HOST", raising=False)
        assert materialize(data_root).success
        mails = smtp.wait_for(2, timeout_s=20)
        assert materialize(data_root).success  # a re-run mails nothing more
        time.sleep(1.0)
        again = list(smtp.messages)
    alerts = read_asset_hour(data_root, "dead_air_alerts", "fm1", H)
    assert alerts is not None
    alerts = alerts.sort_values("start_s").reset_index(drop=True)
    offset = hour_with_plays["offset"]
    assert [round(s - offset) for s in alerts["start_s"]] == [45, 70, 135]
    assert list(alerts["classification"]) == ["suspect", "suspect", "natural"]
    for why in alerts["explanation"][:2]:
        assert "programme lost inside 'Lost Song'" in why and "catalogue audio has programme there" in why
    assert "the track itself is silent there" in alerts["explanation"][2]
    assert "Song With A Rest" in alerts["explanation"][2]
    assert alerts["notification_status"][2] == "not_sent (natural)"
    assert len(mails) == 2 and len(again) == 2, [m["Subject"] for m in again]
    assert sorted(m["Subject"] for m in mails) == sorted(
        m["Subject"] for m in again
    )  # the same two, no third
    assert all("(suspect)" in m["Subject"] and "Radio Un" in m["Subject"] for m in mails)
    assert Notifier.from_env(data_root).outbox.pending_count() == 0
