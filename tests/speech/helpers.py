"""Shared test material: a real French speech clip between real music, and a station-hour built from it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import yaml

from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.testing.sources import FRENCH_SPEECH, singularity_tracks

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)
KEY = "2026-11-20-10:00"
CHUNK_OFFSET_S = 600.0  # the chunk starts 10 min into the hour
MUSIC_S = 25.0
# asterisk-core-sounds-fr-wav, fr_CA "June": the conference admin menu, 27.4 s. Verified once with the
# embedded base model: "Pour activer ou désactiver le mode sourdine ... Pour verrouiller ou déverrouiller
# la conférence, appuyez sur 2. Pour éjecter le dernier participant ..."; "verrouiller" about 4.5 s in.
SPEECH_PROMPT = FRENCH_SPEECH / "conf-adminmenu-18.wav"
VERROUILLER_AT_S = 4.5


@dataclass(frozen=True)
class Mix:
    path: Path
    speech_start_s: float  # in the file
    speech_end_s: float
    duration_s: float


def make_mix(dest: Path, music_s: float = MUSIC_S) -> Mix:
    """Music, then the French prompt, then other music: one 64 kb/s MP3 (what a recorder stores)."""
    music = singularity_tracks()
    first, second = music[0], music[4]
    mono = "aresample=16000,aformat=channel_layouts=mono"
    graph = (
        f"[0]atrim=0:{music_s},asetpts=PTS-STARTPTS,{mono}[a];[1]{mono}[b];"
        f"[2]atrim=30:{30 + music_s},asetpts=PTS-STARTPTS,{mono}[c];[a][b][c]concat=n=3:v=0:a=1"
    )
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(first), "-i", str(SPEECH_PROMPT),
         "-i", str(second), "-filter_complex", graph, "-c:a", "libmp3lame", "-b:a", "64k", str(dest)],
        check=True,
    )  # fmt: skip
    speech_s = float(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
             str(SPEECH_PROMPT)],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    return Mix(dest, music_s, music_s + speech_s, 2 * music_s + speech_s)


def stations_yaml(path: Path) -> None:
    entries = [
        {"id": "radio-fr", "name": "Radio FR", "stream_url": "http://127.0.0.1:8000/fr.mp3", "language": "fr",
         "speech": {"watch_terms": ["CONFERENCE", "dernier participant", "Ollama"]}},
        # No audio for this station: it must not fail the hour nor stop radio-fr.
        {"id": "radio-vide", "name": "Radio Vide", "stream_url": "http://127.0.0.1:8000/vide.mp3"},
    ]  # fmt: skip
    path.write_text(yaml.safe_dump({"stations": entries}, sort_keys=False), encoding="utf-8")


@dataclass(frozen=True)
class TranscribedHour:
    data_root: Path
    mix: Mix
    result: dg.ExecuteInProcessResult

    @property
    def speech_start_s(self) -> float:
        return CHUNK_OFFSET_S + self.mix.speech_start_s

    @property
    def speech_end_s(self) -> float:
        return CHUNK_OFFSET_S + self.mix.speech_end_s


def materialize(data_root: Path, assets: list, raise_on_error: bool = False) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        partition_key=KEY,
        resources=pige_resources(PigeResource(data_root=str(data_root))),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )
