"""A small real catalogue (excerpts of Debian music) and a broadcast mixed from it with ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.index import update_index
from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.defs.airplay.assets import catalogue
from pige_pipeline.hours import partition_key_for
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.testing.sources import SINGULARITY_MUSIC, french_prompts, singularity_tracks

RATE = 11025


def materialize(assets: list, data_root: Path, hour: datetime | None = None) -> dg.ExecuteInProcessResult:
    """Materialize `assets` (for `hour`'s partition) on `data_root`, in process, on a throwaway instance."""
    return dg.materialize(
        assets,
        partition_key=partition_key_for(hour) if hour else None,
        resources=pige_resources(PigeResource(data_root=str(data_root))),
        instance=dg.DagsterInstance.ephemeral(),
    )


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def excerpt(source: Path, start: float, seconds: float, dest: Path) -> Path:
    ffmpeg("-ss", str(start), "-t", str(seconds), "-i", str(source), "-ac", "2", "-ar", "44100", str(dest))
    return dest


@dataclass
class Catalogue:
    csv: Path
    dir: Path
    tracks: dict[str, Path]  # track_id -> file
    outside: Path  # music that is not in the catalogue


@pytest.fixture(scope="session")
def small_catalogue(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    """Four 40-s catalogue tracks (FLAC) and one out-of-catalogue track, all real music."""
    root = tmp_path_factory.mktemp("catalogue")
    music = singularity_tracks()
    chosen = {"SNG-001": music[0], "SNG-002": music[1], "SNG-004": music[3], "SNG-006": music[5]}
    (root / "audio").mkdir()
    tracks = {tid: excerpt(src, 20, 40, root / "audio" / f"{tid}.flac") for tid, src in chosen.items()}
    rows = [
        {"track_id": tid, "title": chosen[tid].stem, "artist": "Singularity", "isrc": f"FRX00260{i:04d}",
         "path": f"audio/{tid}.flac"}
        for i, tid in enumerate(tracks)
    ]  # fmt: skip
    csv = root / "catalogue.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    outside = excerpt(music[9], 30, 40, root / "outside.flac")
    return Catalogue(csv, root, tracks, outside)


AWAKENING = SINGULARITY_MUSIC / "Awakening.ogg"


@pytest.fixture(scope="module")
def awakening_index(tmp_path_factory: pytest.TempPathFactory):
    """The index of a catalogue holding only Singularity's "Awakening" (whole)."""
    root = tmp_path_factory.mktemp("awakening")
    csv = root / "catalogue.csv"
    row = {
        "track_id": "AWK-01",
        "title": "Awakening",
        "artist": "Singularity",
        "isrc": "",
        "path": str(AWAKENING),
    }
    pd.DataFrame([row]).to_csv(csv, index=False)
    return update_index(load_catalogue(csv), root / "state", persist=False).index


def station_data_root(catalogue_dir: Path, tmp_path: Path) -> Path:
    """A data root with station fm1 and the catalogue under `catalogue_dir`, indexed by its asset."""
    data_root = tmp_path / "data"
    shutil.copytree(catalogue_dir, data_root / "catalogue")
    station = {"id": "fm1", "name": "FM 1", "stream_url": "http://127.0.0.1:8000/fm1"}
    (data_root / "stations.yaml").write_text(yaml.safe_dump({"stations": [station]}))
    assert materialize([catalogue], data_root).success
    return data_root


def speech(seconds: float) -> np.ndarray:
    """Real French speech (asterisk prompts), concatenated to `seconds`."""
    parts, total = [], 0
    for path in french_prompts()[20:]:
        x = decode_mono(path, RATE)
        parts.append(x)
        total += len(x)
        if total >= seconds * RATE:
            break
    return np.concatenate(parts)[: int(seconds * RATE)]


def mix_to_mp3(segments: list[np.ndarray], dest: Path) -> Path:
    pcm = np.concatenate(segments).astype("<i2")
    raw = dest.with_suffix(".raw")
    raw.write_bytes(pcm.tobytes())
    ffmpeg(
        "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", str(raw), "-ar", "44100", "-b:a", "128k", str(dest)
    )
    raw.unlink()
    return dest


@dataclass
class Broadcast:
    path: Path
    plays: list[tuple[str, float, float]]  # truth: track_id, start_s, end_s
    speech: tuple[float, float]
    outside: tuple[float, float]


@pytest.fixture(scope="session")
def broadcast(small_catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> Broadcast:
    """3 min of radio: a full play, talk, a play with talk-over, other music, a play joined mid-track."""
    t = small_catalogue.tracks
    a = decode_mono(t["SNG-001"], RATE)
    b = decode_mono(t["SNG-004"], RATE).astype(np.int32)
    c = decode_mono(t["SNG-006"], RATE)
    talk = speech(20)
    # Talk-over: the DJ speaks for 8 s over the middle of the track, music ducked by 6 dB.
    voice = speech(8).astype(np.int32)
    at = 15 * RATE
    b[at : at + len(voice)] = b[at : at + len(voice)] // 2 + voice
    b = np.clip(b, -32768, 32767).astype(np.int16)
    other = decode_mono(small_catalogue.outside, RATE)
    segments = [a, talk, b, other, c[12 * RATE :]]
    bounds, pos = [], 0.0
    for seg in segments:
        bounds.append((pos, pos + len(seg) / RATE))
        pos += len(seg) / RATE
    path = mix_to_mp3(segments, tmp_path_factory.mktemp("radio") / "radio-one.mp3")
    plays = [("SNG-001", *bounds[0]), ("SNG-004", *bounds[2]), ("SNG-006", *bounds[4])]
    return Broadcast(path, plays, bounds[1], bounds[3])
