"""Detection on real music with inserted dead air, quiet programme that must stay, and the CLI."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from pige_pipeline.cli import app
from pige_pipeline.silence import detect_silences
from pige_pipeline.silence.detect import DECISION_COLUMNS, fft_length
from pige_pipeline.silence.rows import silence_rows
from pige_pipeline.stations import SilenceSettings
from pige_pipeline.testing import silence_synth as synth
from pige_pipeline.testing.sources import french_prompts


def seconds(audio: np.ndarray, start: float, length: float, rate: int = ANALYSIS_SAMPLE_RATE) -> np.ndarray:
    return audio[round(start * rate) : round((start + length) * rate)]


def build(parts: list[np.ndarray]) -> np.ndarray:
    return np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)


def test_inserted_dead_air_of_every_kind_is_found(music, other_music, sample_rate) -> None:
    audio = build(
        [
            seconds(music, 0, 10),
            synth.digital_silence(6, sample_rate),  # 10-16
            seconds(music, 10, 10),
            synth.noise_floor(8, -60, sample_rate),  # 26-34
            seconds(other_music, 0, 10),
            synth.hum(7, -35, 50, sample_rate=sample_rate),  # 44-51: louder than the threshold
            seconds(other_music, 10, 10),
        ]
    )
    found = detect_silences(audio, sample_rate, threshold_db=-50, min_seconds=2)
    assert [s.kind for s in found] == ["digital_silence", "noise_floor", "hum"]
    for s, (start, end) in zip(found, [(10, 16), (26, 34), (44, 51)], strict=True):
        assert abs(s.start_s - start) <= 0.25 and abs(s.end_s - end) <= 0.25
    assert found[0].level_db <= -100
    assert -62 <= found[1].level_db <= -58
    assert -37 <= found[2].level_db <= -33


def test_quiet_classical_and_speech_pauses_are_not_dead_air(music, sample_rate) -> None:
    pianissimo_real = synth.attenuate_to_db(seconds(music, 20, 20), -50)
    speech = synth.speech_with_pauses(french_prompts()[:6], [0.6, 1.2, 1.8, 0.9, 1.5], sample_rate)
    audio = build(
        [
            seconds(music, 0, 8),
            synth.pianissimo(20, -52, sample_rate, seed=1),
            seconds(music, 8, 8),
            pianissimo_real,
            seconds(music, 40, 5),
            speech,
            seconds(music, 50, 5),
        ]
    )
    assert detect_silences(audio, sample_rate, threshold_db=-50, min_seconds=2) == []
    # Level alone would have flagged the soft passages: the rules, not the threshold, keep them.
    frames = audio[: len(audio) // 551 * 551].reshape(-1, 551).astype(float)
    level = 10 * np.log10(np.mean(frames**2, axis=1) / 32768**2 + 1e-12)
    assert np.sum(level[160:560] < -50) > 40  # over 2 s of pianissimo frames below -50 dBFS


def test_min_seconds_and_threshold_are_respected(music, sample_rate) -> None:
    audio = build([seconds(music, 0, 5), synth.noise_floor(3, -45, sample_rate), seconds(music, 5, 5)])
    # Steady noise at -45 dBFS is dead air (a hiss with no programme) even above the threshold...
    assert len(detect_silences(audio, sample_rate, -50, 2)) == 1
    # ... but not when it is shorter than the minimum.
    assert detect_silences(audio, sample_rate, -50, 4) == []


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="mono"):
        detect_silences(np.zeros((10, 2), dtype=np.int16), 11025, -50, 2)
    assert detect_silences(np.zeros(0, dtype=np.int16), 11025, -50, 2) == []


def test_cli_writes_csv_and_names_unreadable_files(tmp_path: Path, music, sample_rate) -> None:
    audio = build([seconds(music, 0, 6), synth.digital_silence(4, sample_rate), seconds(music, 6, 6)])
    wav = tmp_path / "radio-un.wav"
    raw = tmp_path / "radio-un.raw"
    raw.write_bytes(audio.tobytes())
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(sample_rate), "-ac", "1",
         "-i", str(raw), "-c:a", "libmp3lame", "-b:a", "128k", str(wav.with_suffix(".mp3"))],
        check=True,
    )  # fmt: skip
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio at all")
    out = tmp_path / "silences.csv"
    result = CliRunner().invoke(
        app,
        [
            "silence",
            "detect",
            str(wav.with_suffix(".mp3")),
            str(broken),
            "--csv",
            str(out),
            "--min-seconds",
            "3",
        ],
    )
    assert result.exit_code == 1
    assert "broken.mp3" in result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["station"] for r in rows] == ["radio-un"]
    assert list(rows[0]) == ["station", "start_s", "end_s", "duration_s", *DECISION_COLUMNS]
    assert rows[0]["kind"] == "digital_silence" and rows[0]["why"].startswith("digital silence")
    assert abs(float(rows[0]["start_s"]) - 6) < 0.3 and abs(float(rows[0]["duration_s"]) - 4) < 0.4


def test_cli_csv_carries_the_decision_columns_of_the_silences_rows(
    tmp_path: Path, music, other_music
) -> None:
    """The real `pige silence detect` on an MP3 of real music under a hiss floor: the programme lost for
    8 s (hiss only, above the threshold) and 7 s of 50 Hz hum. Each CSV row says what it is and why, with
    the very values the hourly `silences` rows give for the same decoded audio."""
    rate = ANALYSIS_SAMPLE_RATE
    m, o = synth.scale_to_db(music, -18), synth.scale_to_db(other_music, -18)
    programme = np.concatenate(
        [
            seconds(m, 0, 12),
            synth.digital_silence(8, rate),  # programme lost: 12-20, only the hiss left
            seconds(o, 0, 12),
            synth.hum(7, -36, 50, sample_rate=rate),  # 32-39
            seconds(m, 12, 12),
        ]
    )
    audio = build([programme + synth.hiss(len(programme) / rate, -38, "pink", rate, seed=3)])
    raw, mp3 = tmp_path / "hiss-fm.raw", tmp_path / "hiss-fm.mp3"
    raw.write_bytes(audio.tobytes())
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1",
         "-i", str(raw), "-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", str(mp3)],
        check=True,
    )  # fmt: skip
    out = tmp_path / "silences.csv"
    pige = Path(sys.executable).parent / "pige"
    done = subprocess.run(
        [str(pige), "silence", "detect", str(mp3), "--csv", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with out.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["station", "start_s", "end_s", "duration_s", *DECISION_COLUMNS]
        found = list(reader)
    assert [r["kind"] for r in found] == ["noise_floor", "hum"], found
    lost, hum = found
    assert abs(float(lost["start_s"]) - 12) <= 0.3 and abs(float(lost["end_s"]) - 20) <= 0.3
    assert abs(float(hum["start_s"]) - 32) <= 0.3 and abs(float(hum["end_s"]) - 39) <= 0.3
    # Above the -50 dBFS threshold, found as the station's floor with no programme over it.
    # (The MP3 round trip takes a few dB off the hiss: compare with the floor the file itself has.)
    assert float(lost["level_db"]) > -50 and abs(float(lost["level_db"]) - float(lost["floor_db"])) <= 3
    assert "no programme" in lost["why"] and "station floor" in lost["why"] and lost["mains_hz"] == ""
    assert float(hum["mains_hz"]) == 50.0 and "mains hum" in hum["why"]
    assert all(float(r[c]) >= 0 for r in found for c in ("level_sd_db", "spectral_change", "tonal_share"))
    assert all(float(r["threshold_db"]) == -50 and float(r["min_seconds"]) == 2 for r in found)

    # The hourly rows of the same decoded audio: the same decision, value for value.
    rows = silence_rows(
        [(0.0, decode_mono(mp3, rate))], rate, datetime(2026, 3, 1, 10, tzinfo=UTC), SilenceSettings()
    )
    assert len(rows) == len(found)
    for row, line in zip(rows, found, strict=True):
        assert float(line["start_s"]) == pytest.approx(row["start_s"], abs=1e-3)
        for column in DECISION_COLUMNS:
            value = row[column]
            cell = line[column]
            if value is None:
                assert cell == "", column
            elif isinstance(value, str):
                assert cell == value, column
            else:
                assert float(cell) == value, column


def test_frame_spectra_use_the_next_fast_fft_length() -> None:
    """A 50 ms frame at 11025 Hz (551 = 19 x 29 samples) is zero-padded to 576 = 2^6 x 3^2: the smallest
    length with no prime factor above 5, which numpy's FFT computes 2-4x faster."""

    def smooth(n: int) -> bool:
        for p in (2, 3, 5):
            while n % p == 0:
                n //= p
        return n == 1

    assert fft_length(551) == 576
    for n in range(1, 2000):
        m = fft_length(n)
        assert m >= n and smooth(m) and not any(smooth(k) for k in range(n, m)), n
