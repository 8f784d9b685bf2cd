"""`audio_chunks` over real audio: values, coverage with gaps, and one corrupt station among good ones."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pige_pipeline.defs.chunks.assets import audio_chunks
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.store.chunks import chunk_path
from pige_pipeline.store.gaps import Gap, append_gap
from pige_pipeline.store.parquet import read_asset_hour, read_manifest

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)
KEY = "2026-11-20-10:00"


def _materialize(data_root: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [audio_chunks],
        partition_key=KEY,
        resources=pige_resources(PigeResource(data_root=str(data_root))),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def test_two_stations_one_hour(data_root: Path, write_stations, put_chunk) -> None:
    write_stations("alpha", "beta")
    put_chunk("alpha", HOUR, 3600)
    # beta lost 10 minutes: the recorder restarted at 10:10 and logged the gap
    put_chunk("beta", HOUR + timedelta(minutes=10), 3000)
    append_gap(data_root, Gap("beta", HOUR, HOUR + timedelta(minutes=10), "recorder_down", "killed"))

    result = _materialize(data_root)
    assert result.success

    alpha = read_asset_hour(data_root, "audio_chunks", "alpha", HOUR).iloc[0]
    assert alpha["status"] == "ok"
    assert alpha["codec"] == "mp3" and alpha["channels"] == 1 and alpha["sample_rate"] == 22050
    assert alpha["duration_s"] == pytest.approx(3600, abs=1.0)
    assert alpha["coverage"] == pytest.approx(1.0, abs=0.001)
    assert 60_000 <= alpha["bitrate"] <= 70_000
    assert alpha["size_bytes"] == chunk_path(data_root, "alpha", HOUR, "mp3").stat().st_size
    assert alpha["hour"].to_pydatetime() == HOUR and alpha["station"] == "alpha"

    beta = read_asset_hour(data_root, "audio_chunks", "beta", HOUR).iloc[0]
    assert beta["status"] == "short"
    assert beta["coverage"] == pytest.approx(3000 / 3600, abs=0.001)
    assert beta["gap_s"] == pytest.approx(600, abs=0.01)
    assert beta["gap_causes"] == "recorder_down"

    check = _check(result)
    assert not check.passed
    assert "beta" in check.description and "alpha" not in check.description
    assert check.metadata["failed_stations"].value == ["beta"]


def test_corrupt_chunk_does_not_stop_the_other_station(data_root: Path, write_stations, put_chunk) -> None:
    write_stations("good", "broken", "silent")
    put_chunk("good", HOUR, 3600)
    bad = chunk_path(data_root, "broken", HOUR, "mp3")
    bad.parent.mkdir(parents=True)
    bad.write_text("this is not audio, it is a text file named .mp3\n")

    result = _materialize(data_root)
    assert result.success  # the run completes; the check reports the problem

    good = read_asset_hour(data_root, "audio_chunks", "good", HOUR).iloc[0]
    assert good["status"] == "ok" and good["coverage"] > 0.99
    broken = read_asset_hour(data_root, "audio_chunks", "broken", HOUR).iloc[0]
    assert broken["status"] == "unreadable"
    assert str(bad) in broken["error"] and "not readable audio" in broken["error"]
    missing = read_asset_hour(data_root, "audio_chunks", "silent", HOUR).iloc[0]
    assert missing["status"] == "missing" and missing["coverage"] == 0

    check = _check(result)
    assert not check.passed
    assert check.metadata["failed_stations"].value == ["broken", "silent"]
    assert "broken: unreadable" in check.description and "good" not in check.description
    manifest = read_manifest(data_root, "audio_chunks", HOUR)
    assert set(manifest["failed"]) == {"broken", "silent"} and manifest["rows"]["good"] == 1
    assert bad.exists()  # never moved or deleted


def test_restart_parts_and_rotation_overlap_are_counted_once(
    data_root: Path, write_stations, put_chunk
) -> None:
    write_stations("alpha")
    # Part one 10:00:00-10:40:00; a rotation started a second recording at 10:39:30 (30 s overlap).
    put_chunk("alpha", HOUR, 2400)
    put_chunk("alpha", HOUR + timedelta(minutes=39, seconds=30), 1230)
    result = _materialize(data_root)
    row = read_asset_hour(data_root, "audio_chunks", "alpha", HOUR).iloc[0]
    assert row["files"] == 2
    assert row["duration_s"] == pytest.approx(3600, abs=1.0)  # not 3630
    assert row["status"] == "ok"
    assert _check(result).passed
