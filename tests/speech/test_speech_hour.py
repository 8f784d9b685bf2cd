"""The speech assets on a real station-hour: French speech between two pieces of real music."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from pige_pipeline.cli import app
from pige_pipeline.speech.guards import normalise
from pige_pipeline.store.parquet import read_asset_hour, read_manifest

from .helpers import CHUNK_OFFSET_S, HOUR, VERROUILLER_AT_S, TranscribedHour

pytestmark = pytest.mark.slow  # one real Whisper run, shared by the module (about 20-40 s on 2 cores)


def test_run_succeeds_and_the_station_without_audio_is_not_a_failure(
    transcribed_hour: TranscribedHour,
) -> None:
    result = transcribed_hour.result
    assert result.success
    checks = {e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"speech_segments": True, "transcripts": True, "summaries": True, "mentions": True}
    manifest = read_manifest(transcribed_hour.data_root, "transcripts", HOUR)
    assert manifest["failed"] == {}
    assert "radio-vide" in manifest["no_audio"]


def test_timeline_covers_the_hour_and_finds_the_speech(transcribed_hour: TranscribedHour) -> None:
    timeline = read_asset_hour(transcribed_hour.data_root, "speech_segments", "radio-fr", HOUR)
    assert timeline["start_s"].iloc[0] == 0 and timeline["end_s"].iloc[-1] == pytest.approx(3600)
    assert (timeline["end_s"].iloc[:-1].values == timeline["start_s"].iloc[1:].values).all()  # no holes
    speech = timeline[timeline["kind"] == "speech"]
    assert len(speech) == 1
    row = speech.iloc[0]
    assert row["start_s"] == pytest.approx(transcribed_hour.speech_start_s, abs=1.0)
    assert row["end_s"] == pytest.approx(transcribed_hour.speech_end_s, abs=1.0)
    assert row["start"] == HOUR + timedelta(seconds=row["start_s"])
    # Before the chunk there is no recording; the music is not speech (no airplay file to name it music).
    first = timeline.iloc[0]
    assert (first["kind"], first["source"], first["end_s"]) == ("unknown", "no_audio", CHUNK_OFFSET_S)
    assert set(timeline["kind"]) == {"speech", "unknown"}


def test_transcript_has_the_words_and_nothing_inside_the_music(transcribed_hour: TranscribedHour) -> None:
    rows = read_asset_hour(transcribed_hour.data_root, "transcripts", "radio-fr", HOUR)
    kept = rows[~rows["dropped"]]
    text = normalise(" ".join(kept["text"]))
    for word in ("conference", "participant", "verrouiller", "volume", "appuyez"):
        assert word in text, f"{word!r} missing from {text!r}"
    assert (kept["language"] == "fr").all()
    # Every kept segment lies inside the speech; nothing was transcribed in the music on either side.
    assert (kept["start_s"] >= transcribed_hour.speech_start_s - 0.5).all()
    assert (kept["end_s"] <= transcribed_hour.speech_end_s + 0.5).all()
    assert kept["start_s"].is_monotonic_increasing
    assert rows["segment_id"].is_unique and rows["segment_id"].str.startswith("radio-fr/20261120T10/").all()
    assert rows["avg_logprob"].between(-5, 0).all() and rows["no_speech_prob"].between(0, 1).all()
    assert rows["model"].str.contains("whisper-base").all()
    assert read_asset_hour(transcribed_hour.data_root, "transcripts", "radio-vide", HOUR) is None


def test_mentions_are_case_and_accent_insensitive(transcribed_hour: TranscribedHour) -> None:
    rows = read_asset_hour(transcribed_hour.data_root, "mentions", "radio-fr", HOUR)
    terms = set(rows["term"])
    assert "CONFERENCE" in terms  # said as "conférence"
    assert "dernier participant" in terms
    assert "Ollama" not in terms
    for row in rows.itertuples():
        assert transcribed_hour.speech_start_s - 0.5 <= row.start_s <= transcribed_hour.speech_end_s
        assert row.start == HOUR + timedelta(seconds=row.start_s)
    said = rows[rows["term"] == "dernier participant"].iloc[0]
    assert "participant" in said["text"]


def test_offline_summary_of_the_real_transcript(transcribed_hour: TranscribedHour) -> None:
    row = read_asset_hour(transcribed_hour.data_root, "summaries", "radio-fr", HOUR).iloc[0]
    assert (row["engine"], row["status"], row["language"]) == ("offline", "ok", "fr")
    assert row["model"].startswith("extractive+yake")
    assert 40 < len(row["summary"]) <= 600
    transcript = normalise(
        " ".join(read_asset_hour(transcribed_hour.data_root, "transcripts", "radio-fr", HOUR)["text"])
    )
    # Extractive: every summary sentence was said.
    for sentence in row["summary"].split(". "):
        assert normalise(sentence.rstrip(".")) in transcript
    keywords = [normalise(k) for k in row["keywords"]]
    assert 3 <= len(keywords) <= 10
    assert any("conference" in k for k in keywords) or any("appuyez" in k for k in keywords)
    assert len(row["topics"]) >= 1 and row["words"] > 30


def test_pige_search_finds_a_word_at_its_time(transcribed_hour: TranscribedHour) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["search", "VERROUILLER", "--data-root", str(transcribed_hour.data_root)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("radio-fr")]
    assert len(lines) == 1, result.output
    assert "[verrouiller]" in lines[0].lower()
    assert lines[0].split()[1].startswith("2026-11-20T10:10:")

    as_json = runner.invoke(
        app, ["search", "verrouiller", "--json", "--data-root", str(transcribed_hour.data_root)]
    )
    [hit] = [json.loads(line) for line in as_json.output.splitlines()]
    said_at = HOUR + timedelta(seconds=transcribed_hour.speech_start_s + VERROUILLER_AT_S)
    start, end = datetime.fromisoformat(hit["start"]), datetime.fromisoformat(hit["end"])
    # The hit is the Whisper segment in which the word was said.
    assert start - timedelta(seconds=1) <= said_at <= end + timedelta(seconds=1), hit
    assert end - start < timedelta(seconds=15)

    narrowed = runner.invoke(
        app,
        ["search", "verrouiller", "--station", "radio-vide", "--data-root", str(transcribed_hour.data_root)],
    )
    assert "0 result(s)" in narrowed.output
    later = runner.invoke(
        app,
        [
            "search",
            "verrouiller",
            "--from",
            "2026-11-20T11:00",
            "--data-root",
            str(transcribed_hour.data_root),
        ],
    )
    assert "0 result(s)" in later.output
    window = ["--from", "2026-11-20T10:00", "--to", "2026-11-20T11:00", "--station", "radio-fr"]
    inside = runner.invoke(
        app, ["search", "verrouiller", *window, "--data-root", str(transcribed_hour.data_root)]
    )
    assert "1 result(s)" in inside.output
    missing = runner.invoke(app, ["search", "xylophone", "--data-root", str(transcribed_hour.data_root)])
    assert "0 result(s)" in missing.output


def test_pige_speech_transcribe_command(french_mix, tmp_path) -> None:
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio at all")
    out = tmp_path / "out" / "transcript.json"
    result = CliRunner().invoke(
        app,
        ["speech", "transcribe", str(french_mix.path), str(broken), "--language", "fr", "--json", str(out)],
    )
    assert result.exit_code == 1, result.output  # one file was unreadable: named, and the other done
    assert "broken.mp3" in result.output and "not readable audio" in result.output
    [report] = json.loads(out.read_text(encoding="utf-8"))
    assert report["language"] == "fr"
    speech_s = french_mix.speech_end_s - french_mix.speech_start_s
    assert report["speech_s"] == pytest.approx(speech_s, abs=2.0)  # the music was never sent to Whisper
    kept = [s for s in report["segments"] if not s["dropped"]]
    assert "conference" in normalise(" ".join(s["text"] for s in kept))
    assert all(french_mix.speech_start_s - 0.5 <= s["start_s"] <= french_mix.speech_end_s for s in kept)
