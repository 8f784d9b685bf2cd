"""Build a one-hour programme from Debian's free music and speech, and write down what is in it.

The truth file (`programme.json`) lists every block with its start and end in seconds, so the demo,
the tests and the benchmarks can check silences, plays and speech against what really aired.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.testing.sources import asc_tracks, drascula_tracks, french_prompts, singularity_tracks

SAMPLE_RATE = 22050


@dataclass
class Block:
    kind: str  # music | speech | silence | noise_floor | hum
    start_s: float
    end_s: float
    source: str = ""
    track_id: str | None = None  # catalogue track id, None for out-of-catalogue music
    source_offset_s: float = 0.0
    talk_over_s: float = 0.0  # seconds of speech mixed over the start of a music block
    level_db: float | None = None


@dataclass
class Programme:
    duration_s: float
    sample_rate: int
    blocks: list[Block] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"duration_s": self.duration_s, "sample_rate": self.sample_rate,
                           "blocks": [asdict(b) for b in self.blocks]}, indent=2)  # fmt: skip


@dataclass(frozen=True)
class CatalogueTrack:
    track_id: str
    title: str
    artist: str
    path: Path
    publisher: str


def demo_catalogue() -> list[CatalogueTrack]:
    """The catalogue the demo matches against: Singularity and Drascula tracks (not the asc ones)."""
    tracks = []
    for i, path in enumerate(singularity_tracks(), 1):
        tracks.append(
            CatalogueTrack(f"SGL{i:03d}", path.stem, "Singularity soundtrack", path, "Singularity (CC BY-SA)")
        )
    for i, path in enumerate(drascula_tracks(), 1):
        tracks.append(
            CatalogueTrack(f"DRA{i:03d}", path.stem, "Drascula soundtrack", path, "Revistronic (BSD)")
        )
    return tracks


def write_catalogue_csv(path: Path, tracks: list[CatalogueTrack]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["track_id,title,artist,isrc,path,label,composer,publisher"]
    for n, t in enumerate(tracks, 1):
        # Synthetic ISRCs in the reserved-looking "ZZ" country code: these tracks have no real ones.
        isrc = f"ZZ-PGE-26-{n:05d}"
        lines.append(f'{t.track_id},"{t.title}","{t.artist}",{isrc},"{t.path}",,,"{t.publisher}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _speech(prompts: list[Path], seconds: float, rng: np.random.Generator) -> np.ndarray:
    """French prompts one after another with short natural pauses (0.3-0.8 s, never dead air)."""
    out, total = [], 0
    while total < seconds * SAMPLE_RATE:
        clip = decode_mono(prompts[int(rng.integers(len(prompts)))], SAMPLE_RATE).astype(np.float32)
        pause = np.zeros(int(rng.uniform(0.3, 0.8) * SAMPLE_RATE), np.float32)
        out += [clip * 1.6, pause]
        total += len(clip) + len(pause)
    return np.concatenate(out)[: int(seconds * SAMPLE_RATE)]


def _tone_floor(kind: str, seconds: float, level_db: float, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * SAMPLE_RATE)
    amp = 32767 * 10 ** (level_db / 20)
    if kind == "hum":  # mains hum: 50 Hz and its harmonics, constant
        t = np.arange(n) / SAMPLE_RATE
        wave = (
            np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 100 * t) + 0.3 * np.sin(2 * np.pi * 150 * t)
        )
        return (amp * wave / np.sqrt(np.mean(wave**2))).astype(np.float32)
    return (amp * rng.standard_normal(n)).astype(np.float32)  # white noise floor, RMS at level_db


def build_programme(out_mp3: Path, duration_s: float = 3600.0, seed: int = 7) -> Programme:
    """Write `out_mp3` (MP3, 22.05 kHz mono, 64 kb/s) and return its truth."""
    rng = np.random.default_rng(seed)
    catalogue = {t.path: t for t in demo_catalogue()}
    sing, dras, asc = singularity_tracks(), drascula_tracks(), asc_tracks()
    prompts = french_prompts()
    # (kind, source, seconds or None for the whole track, offset into the source, talk-over seconds, level)
    plan: list[tuple[str, Path | None, float | None, float, float, float | None]] = [
        ("speech", None, 45, 0, 0, None),
        ("music", sing[3], None, 0, 0, None),  # Awakening, full
        ("speech", None, 60, 0, 0, None),
        ("music", dras[2], None, 0, 15, None),  # talk-over on the intro
        ("silence", None, 8, 0, 0, None),  # dead air: digital zero
        ("music", sing[5], 120, 60, 0, None),  # Coherence, partial: starts 60 s in
        ("speech", None, 90, 0, 0, None),
        ("music", asc[1], 150, 30, 0, None),  # out of the catalogue
        ("noise_floor", None, 12, 0, 0, -60.0),  # dead air: noise floor, not digital zero
        ("music", sing[12], None, 0, 0, None),
        ("music", dras[5], None, 0, 0, None),
        ("speech", None, 60, 0, 0, None),
        ("hum", None, 10, 0, 0, -40.0),  # dead air: mains hum on an open fader
        ("music", sing[4], None, 0, 0, None),
        ("speech", None, 75, 0, 0, None),
        ("silence", None, 25, 0, 0, None),
        ("music", sing[8], None, 0, 0, None),
        ("speech", None, 50, 0, 0, None),
        ("music", sing[3], None, 0, 0, None),  # Awakening again: a second play of the same track
        ("speech", None, 40, 0, 0, None),
        ("music", dras[7], None, 0, 0, None),
        ("music", sing[10], None, 0, 0, None),
        ("speech", None, 60, 0, 0, None),
        ("music", sing[0], None, 0, 0, None),
        ("silence", None, 6, 0, 0, None),
        ("speech", None, 45, 0, 0, None),
        ("music", sing[9], None, 0, 0, None),
        ("speech", None, 30, 0, 0, None),
        ("music", sing[2], None, 0, 0, None),  # runs past the end of the hour
    ]
    total = int(duration_s * SAMPLE_RATE)
    mix = np.zeros(total, np.float32)
    programme = Programme(duration_s=duration_s, sample_rate=SAMPLE_RATE)
    pos = 0
    for kind, source, seconds, offset, talk_over, level in plan:
        if pos >= total:
            break
        if kind == "music":
            audio = decode_mono(source, SAMPLE_RATE, start_s=offset, duration_s=seconds).astype(np.float32)
        elif kind == "speech":
            audio = _speech(prompts, seconds, rng)
        elif kind == "silence":
            audio = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
        else:
            audio = _tone_floor(kind, seconds, level, rng)
        if talk_over:
            voice = _speech(prompts, talk_over, rng)
            audio[: len(voice)] = audio[: len(voice)] * 0.35 + voice  # music ducked under the voice
        audio = audio[: total - pos]
        mix[pos : pos + len(audio)] += audio
        track = catalogue.get(source) if source is not None else None
        programme.blocks.append(
            Block(
                kind=kind,
                start_s=round(pos / SAMPLE_RATE, 3),
                end_s=round((pos + len(audio)) / SAMPLE_RATE, 3),
                source=str(source or ""),
                track_id=track.track_id if track else None,
                source_offset_s=offset,
                talk_over_s=talk_over,
                level_db=level,
            )
        )
        pos += len(audio)
    pcm = np.clip(mix, -32768, 32767).astype("<i2").tobytes()
    out_mp3.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1",
         "-i", "-", "-c:a", "libmp3lame", "-b:a", "64k", str(out_mp3)],
        input=pcm, check=True,
    )  # fmt: skip
    out_mp3.with_suffix(".json").write_text(programme.to_json(), encoding="utf-8")
    return programme
