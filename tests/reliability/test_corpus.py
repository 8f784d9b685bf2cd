"""The bad-input corpus through `process_hour`: each bad file reported for its station-hour, the rest done.

One hour, one station per corpus file, every hourly asset of the code location (recording, dead air,
airplay, speech), and a catalogue with a video, a text file and a missing file among its rows.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from pige_pipeline.audio.probe import probe_audio
from pige_pipeline.definitions import defs
from pige_pipeline.defs.airplay.assets import catalogue
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.store.chunks import chunk_path
from pige_pipeline.store.parquet import read_asset_hour, read_manifest
from pige_pipeline.testing.sources import singularity_tracks

from .corpus_files import CORPUS, LONG, VIDEO_ONLY

pytestmark = pytest.mark.slow

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)
KEY = "2026-11-20-10:00"
UNREADABLE = {f.name for f in CORPUS if not f.readable}
SPEECH_ON = {"good.mp3", "rate8k.wav", "text.mp3", "truncated.mp3"}


def station_of(name: str) -> str:
    return name.split(".")[0].replace("_", "-")


@dataclass
class Processed:
    root: Path
    result: dg.ExecuteInProcessResult
    catalogue_problems: list[str]
    catalogue_tracks: int


def _catalogue(root: Path, corpus: dict[str, Path]) -> None:
    folder = root / "catalogue"
    folder.mkdir(parents=True)
    shutil.copy(corpus[VIDEO_ONLY], folder / "clip.mp4")
    shutil.copy(corpus["text.mp3"], folder / "notes.mp3")
    (folder / "catalogue.csv").write_text(
        "track_id,title,artist,isrc,path\n"
        f"T1,Singularity One,Phil Hassey,,{singularity_tracks()[1]}\n"
        "V1,Promo clip,Marketing,,clip.mp4\n"
        "X1,Running order,Producer,,notes.mp3\n"
        "M1,Gone,Nobody,,missing.flac\n",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory, corpus: dict[str, Path]) -> Processed:
    root = tmp_path_factory.mktemp("corpus-root")
    stations = []
    for item in [*CORPUS, LONG]:
        sid = station_of(item.name)
        dest = chunk_path(root, sid, HOUR, item.name.rsplit(".", 1)[1])
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus[item.name], dest)
        stations.append(
            {
                "id": sid,
                "name": sid,
                "stream_url": f"http://127.0.0.1:9/{sid}",
                "speech": {"enabled": item.name in SPEECH_ON},
            }
        )
    (root / "stations.yaml").write_text(yaml.safe_dump({"stations": stations}), encoding="utf-8")
    _catalogue(root, corpus)
    resources = pige_resources(PigeResource(data_root=str(root)))
    indexed = dg.materialize([catalogue], resources=resources, instance=dg.DagsterInstance.ephemeral())
    [mat] = indexed.asset_materializations_for_node("catalogue")
    result = defs.resolve_job_def("process_hour").execute_in_process(
        partition_key=KEY, instance=dg.DagsterInstance.ephemeral(), resources=resources, raise_on_error=False
    )
    return Processed(root, result, mat.metadata["problems"].value, mat.metadata["tracks"].value)


def _assets(p: Processed) -> list[str]:
    return sorted({e.asset_key.to_user_string() for e in p.result.get_asset_check_evaluations()})


def test_the_run_completes_and_every_hourly_asset_is_written(processed: Processed) -> None:
    assert processed.result.success
    assets = _assets(processed)
    assert {"audio_chunks", "silences", "fingerprints", "dead_air_alerts", "airplay_events"} <= set(assets)
    for asset in assets:
        manifest = read_manifest(processed.root, asset, HOUR)
        assert manifest is not None, asset
        for item in [*CORPUS, LONG]:
            sid = station_of(item.name)
            if item.readable:
                # readable audio, whatever its name, rate or channels: processed, never failed
                assert sid in manifest["rows"], (asset, sid, manifest)
                assert asset == "audio_chunks" or sid not in manifest["failed"], (asset, sid, manifest)
            else:
                # a bad file is reported for its own station-hour, by name, and nothing is written
                assert sid not in manifest["rows"] or asset == "audio_chunks", (asset, sid)
                why = manifest["failed"].get(sid) or manifest["no_audio"].get(sid)
                assert why, (asset, sid, manifest)
                assert sid in why or str(chunk_path(processed.root, sid, HOUR, "mp3")) in why, why


def test_audio_chunks_names_each_bad_file_and_describes_the_odd_ones(processed: Processed) -> None:
    evaluation = next(
        e
        for e in processed.result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "audio_chunks"
    )
    for item in CORPUS:
        sid = station_of(item.name)
        row = read_asset_hour(processed.root, "audio_chunks", sid, HOUR).iloc[0]
        path = chunk_path(processed.root, sid, HOUR, item.name.rsplit(".", 1)[1])
        if not item.readable:
            assert row["status"] == "unreadable" and row["coverage"] == 0
            assert str(path) in row["error"]
            assert f"{sid}: unreadable: {path}" in evaluation.description
            continue
        assert row["status"] == "short", (sid, row)  # 40 s of a 3600 s hour: reported, not hidden
        assert (row["codec"], row["sample_rate"], row["channels"]) == (
            item.codec,
            item.sample_rate,
            item.channels,
        )
        assert pd.isna(row["error"])
    zero = read_asset_hour(processed.root, "audio_chunks", "zero", HOUR).iloc[0]
    assert "empty file (0 bytes)" in zero["error"]


def test_a_truncated_mp3_counts_only_the_audio_it_holds(
    processed: Processed, corpus: dict[str, Path]
) -> None:
    row = read_asset_hour(processed.root, "audio_chunks", "truncated", HOUR).iloc[0]
    good = read_asset_hour(processed.root, "audio_chunks", "good", HOUR).iloc[0]
    # 40 % of the bytes: its Xing header still promises 40 s, the file holds ~16 s
    assert row["duration_s"] == pytest.approx(0.4 * good["duration_s"], abs=0.5)
    assert probe_audio(corpus["truncated.mp3"]).duration_s < 17


def test_a_three_hour_file_in_a_one_hour_slot_gives_exactly_that_hour(processed: Processed) -> None:
    row = read_asset_hour(processed.root, "audio_chunks", "long3h", HOUR).iloc[0]
    assert row["status"] == "ok" and row["files"] == 1
    assert row["duration_s"] == pytest.approx(3600, abs=0.01) and row["coverage"] == 1.0
    # the 60 s seed loops: exactly sixty plays of it fit in the hour, none past 3600 s
    plays = read_asset_hour(processed.root, "airplay_events", "long3h", HOUR)
    assert plays["end_s"].max() <= 3600 + 1e-6 and plays["start_s"].min() >= 0
    assert plays["duration_s"].sum() <= 3600
    assert 55 <= len(plays) <= 61, len(plays)
    prints = read_asset_hour(processed.root, "fingerprints", "long3h", HOUR)
    held = sum(len(f) for f in prints["fingerprint"]) * 4096 / 3 / 11025  # Chromaprint's item step
    assert 3590 <= held <= 3600, held
    segments = read_asset_hour(processed.root, "speech_segments", "long3h", HOUR)
    assert segments["end_s"].max() <= 3600 + 1e-6


def test_odd_formats_are_still_recognised_as_the_catalogue_track(processed: Processed) -> None:
    for item in CORPUS:
        if not item.readable or item.name in {"rate8k.wav", "truncated.mp3"}:
            continue  # rate8k is speech; the truncated file holds 16 s, near the minimum play length
        plays = read_asset_hour(processed.root, "airplay_events", station_of(item.name), HOUR)
        assert list(plays["track_id"]) == ["T1"], (item.name, plays)


def test_speech_at_8_khz_is_transcribed(processed: Processed) -> None:
    transcripts = read_asset_hour(processed.root, "transcripts", "rate8k", HOUR)
    kept = transcripts[~transcripts["dropped"]]
    assert len(kept) >= 3 and kept["text"].str.len().sum() > 40


def test_catalogue_rows_with_a_video_text_or_missing_file_are_named_and_the_rest_indexed(
    processed: Processed,
) -> None:
    assert processed.catalogue_tracks == 1
    problems = "\n".join(processed.catalogue_problems)
    assert len(processed.catalogue_problems) == 3
    assert "line 3 (track_id 'V1')" in problems and "is a video file" in problems
    assert "line 4 (track_id 'X1')" in problems and "not readable audio" in problems
    assert "line 5 (track_id 'M1')" in problems and "file not found" in problems
