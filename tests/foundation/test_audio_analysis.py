"""`audio_analysis`: one decode per station-hour feeds `silences` and `fingerprints`, station by station."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from pige_pipeline.defs.audio.assets import audio_analysis
from pige_pipeline.defs.chunks.assets import audio_chunks
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.store.chunks import chunk_path
from pige_pipeline.store.hour_audio import decode_hour_pieces, load_hour_audio
from pige_pipeline.store.parquet import read_asset_hour
from tests.conftest import loop_audio

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)


def _with_silence(music: Path, dest: Path, tmp: Path) -> Path:
    """60 s of music, then 12 s of digital silence, then 48 s of music (120 s in all)."""
    import subprocess

    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(music), "-i", str(music),
         "-filter_complex",
         "[0:a]atrim=0:60,asetpts=N/SR/TB[a];anullsrc=r=22050:cl=mono,atrim=0:12[s];"
         "[1:a]atrim=0:48,asetpts=N/SR/TB[b];[a][s][b]concat=n=3:v=0:a=1",
         "-ac", "1", "-ar", "22050", "-c:a", "libmp3lame", "-b:a", "64k", str(dest)],
        check=True,
    )  # fmt: skip
    return dest


@pytest.mark.slow
def test_one_decode_feeds_silences_and_fingerprints(
    data_root: Path, write_stations, put_chunk, music_clip: Path, tmp_path: Path
) -> None:
    write_stations("alpha", "broken")
    # alpha: two 120 s files that follow each other (short recorder segments): one piece of audio.
    first = chunk_path(data_root, "alpha", HOUR, "mp3")
    first.parent.mkdir(parents=True)
    _with_silence(music_clip, first, tmp_path)
    loop_audio(music_clip, 120, chunk_path(data_root, "alpha", HOUR + timedelta(seconds=120), "mp3"))
    bad = chunk_path(data_root, "broken", HOUR, "mp3")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"ID3" + b"\x00" * 200)

    pieces = decode_hour_pieces(load_hour_audio(data_root, "alpha", HOUR).parts)
    assert len(pieces) == 1 and pieces[0][0] == 0.0
    assert len(pieces[0][1]) / 11025 == pytest.approx(240, abs=0.2)
    assert pieces[0][1].dtype == np.int16

    result = dg.materialize(
        [audio_chunks, audio_analysis],
        partition_key="2026-11-20-10:00",
        resources=pige_resources(PigeResource(data_root=str(data_root))),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert result.success

    silences = read_asset_hour(data_root, "silences", "alpha", HOUR)
    long_ones = silences[silences["duration_s"] > 5]
    assert len(long_ones) == 1
    silence = long_ones.iloc[0]
    assert silence["start_s"] == pytest.approx(60, abs=0.3)
    assert silence["end_s"] == pytest.approx(72, abs=0.3)
    assert silence["kind"] == "digital_silence"

    fingerprints = read_asset_hour(data_root, "fingerprints", "alpha", HOUR)
    assert len(fingerprints) >= 1
    values = fingerprints.iloc[0]["fingerprint"]
    # Chromaprint gives ~8 sub-fingerprints per second of audio.
    assert 7 * 230 < len(values) < 9 * 240

    # The broken station has no audio: reported by audio_chunks, skipped (not failed) by the analysis.
    checks = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert not checks["audio_chunks"].passed and "broken" in checks["audio_chunks"].description
    assert checks["silences"].passed and checks["fingerprints"].passed
    assert checks["silences"].metadata["stations_without_audio"].value == ["broken"]
    assert read_asset_hour(data_root, "silences", "broken", HOUR) is None
