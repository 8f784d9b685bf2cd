"""A broadcast-like evaluation set with known truth, built from the Debian music and speech packages.

Catalogue: every distinct track of singularity-music, drascula-music and asc-music except a few held
out as out-of-catalogue music. Each station's audio is a timeline of catalogue plays (full or partial,
some starting mid-track, some crossfaded, some with talk-over), out-of-catalogue music, talk (asterisk
prompts) and silences, then degraded one of three ways:
    mp3_128k     near-clean MP3 128 kb/s
    broadcast    compressed, band-limited (80 Hz-5 kHz), MP3 64 kb/s mono
    fast_noise   played 2 % fast, white noise at 20 dB SNR, MP3 128 kb/s
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.testing.sources import (
    asc_tracks,
    drascula_tracks,
    english_prompts,
    french_prompts,
    singularity_tracks,
)

RATE = 22050
DEGRADATIONS = ("mp3_128k", "broadcast", "fast_noise")
FAST = 1.02
HELD_OUT = 6  # tracks kept out of the catalogue


@dataclass
class TruthPlay:
    track_id: str
    start_s: float
    end_s: float
    ref_offset_s: float
    # full / partial / mid_start / crossfade / talk_over (a voice inside the play), or one of the first
    # four + "+talk_over" (a voice over the intro)
    kind: str


@dataclass
class Station:
    name: str
    degradation: str
    path: str
    duration_s: float
    plays: list[TruthPlay] = field(default_factory=list)
    negatives: list[tuple[str, float, float]] = field(default_factory=list)  # (talk|ooc|silence, start, end)
    # Where each stretch of other music comes from: file, start_s, end_s (station), file_offset_s (the
    # file's second aired at start_s) and speed (file seconds per station second): lets a benchmark
    # find catalogue recordings that the other music holds (benchmarks/airplay_heldout.py).
    other_music: list[dict] = field(default_factory=list)

    def play_faster(self, factor: float) -> None:
        """Move the truth to the programme played `factor` times faster (resampled or time-compressed)."""
        for p in self.plays:
            p.start_s, p.end_s = p.start_s / factor, p.end_s / factor
        self.negatives = [(k, a / factor, b / factor) for k, a, b in self.negatives]
        self.other_music = [
            m | {"start_s": m["start_s"] / factor, "end_s": m["end_s"] / factor, "speed": m["speed"] * factor}
            for m in self.other_music
        ]
        self.duration_s /= factor


def distinct_tracks() -> list[Path]:
    """Every music file once (drascula ships the same tracks under five language folders)."""
    seen, out = set(), []
    for path in singularity_tracks() + drascula_tracks() + asc_tracks():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append(path)
    return out


def rms_norm(x: np.ndarray, db: float = -20.0) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
    return x * (10 ** (db / 20) / rms) if rms > 1e-6 else x


def _fade(x: np.ndarray, seconds_in: float, seconds_out: float) -> np.ndarray:
    x = x.copy()
    n_in, n_out = int(seconds_in * RATE), int(seconds_out * RATE)
    if n_in:
        x[:n_in] *= np.linspace(0, 1, n_in)
    if n_out:
        x[-n_out:] *= np.linspace(1, 0, n_out)
    return x


@dataclass(frozen=True)
class ProgrammeSpec:
    """How a station's programme is drawn; the defaults are the tuning set's.

    The held-out set (`benchmarks/airplay_heldout.py`) draws with `HELD_OUT_PROGRAMME`: every draw
    is made in the same order for a given spec, so a seed always gives the same programme.
    """

    id_prefix: str = "T"
    # Shorter tracks are skipped.
    min_track_s: float = 20.0
    # Probabilities of a full play, a partial one and one joined mid-track.
    kind_p: tuple[float, float, float] = (0.4, 0.3, 0.3)
    # A mid-track join needs a track this long and starts between 10 s and this before its end.
    mid_start_min_track_s: float = 60.0
    mid_start_tail_s: float = 40.0
    # A play right after another is crossfaded into it with this probability, over this many seconds.
    crossfade_p: float = 0.4
    crossfade_s: tuple[float, float] = (3.0, 6.0)
    # Whether the play before fades out over the same seconds (else it is cut under the fade-in).
    crossfade_out: bool = False
    # Every play follows the previous one, crossfaded (no talk, other music or silence in between).
    crossfade_all: bool = False
    # "mid": a voice somewhere inside the play, the music halved (-6 dB); kind "talk_over".
    # "intro": a voice from the track's own start (full or partial plays, not crossfaded), the music
    # ducked by `duck_db` and the voice 2 dB down; kind "<kind>+talk_over".
    talk_over: str = "mid"
    talk_over_p: float = 0.3
    talk_over_s: tuple[float, float] = (8.0, 15.0)
    duck_db: tuple[float, float] = (6.0, 10.0)
    # Talk between plays.
    talk_s: tuple[float, float] = (20.0, 60.0)


TUNING_PROGRAMME = ProgrammeSpec()
# The held-out set's programmes (issue 16): talk-over on ~35 % of the intros, 8-25 s, ducked 6-10 dB.
HELD_OUT_PROGRAMME = ProgrammeSpec(
    id_prefix="H",
    min_track_s=25.0,
    kind_p=(0.45, 0.3, 0.25),
    mid_start_min_track_s=45.0,
    mid_start_tail_s=20.0,
    crossfade_s=(4.0, 8.0),
    crossfade_out=True,
    talk_over="intro",
    talk_over_p=0.35,
    talk_over_s=(8.0, 25.0),
    talk_s=(15.0, 45.0),
)


def build(out: Path, minutes: float = 60.0, seed: int = 5, spec: ProgrammeSpec = TUNING_PROGRAMME) -> dict:
    """Write catalogue.csv, the stations' audio and truth.json under `out`; returns the truth."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tracks = distinct_tracks()
    order = rng.permutation(len(tracks))
    held = [tracks[i] for i in order[:HELD_OUT]]
    cat = [tracks[i] for i in order[HELD_OUT:]]
    rows = [
        {"track_id": f"{spec.id_prefix}{i:03d}", "title": p.stem, "artist": p.parent.name, "isrc": "",
         "path": str(p)}
        for i, p in enumerate(cat)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(out / "catalogue.csv", index=False)
    audio: dict[str, np.ndarray] = {}

    def load(path: Path) -> np.ndarray:
        if str(path) not in audio:
            audio[str(path)] = decode_mono(path, RATE).astype(np.float32) / 32768
        return audio[str(path)]

    prompts = french_prompts() + english_prompts()
    stations = []
    for s, degradation in enumerate(DEGRADATIONS):
        name = f"st{s + 1}_{degradation}"
        mix, station = programme(rng, minutes * 60, cat, held, prompts, load, spec)
        station.name, station.degradation = name, degradation
        wav = out / f"{name}.mix.wav"
        _write_wav(wav, mix)
        path = out / f"{name}.mp3"
        _degrade(wav, path, degradation, rng)
        wav.unlink()
        if degradation == "fast_noise":
            station.play_faster(FAST)
        station.path = str(path)
        stations.append(station)
    truth = {"catalogue": str(out / "catalogue.csv"), "stations": [asdict(s) for s in stations]}
    (out / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


# Plays are not begun this close to the programme's end (they would be cut shorter than a play).
LAST_PLAY_MARGIN_S = 15.0


def programme(
    rng: np.random.Generator,
    total_s: float,
    cat: list[Path],
    other: list[Path],
    prompts: list[Path],
    load: Callable[[Path], np.ndarray],
    spec: ProgrammeSpec = TUNING_PROGRAMME,
) -> tuple[np.ndarray, Station]:
    """A station's programme at `RATE` (float, -1..1) and its truth.

    Plays of `cat` (track_id `spec.id_prefix` + index), talk from `prompts`, music from `other` (not in
    the catalogue) and silences, from 5 s to `total_s`; `load` decodes a file at `RATE`.
    """
    mix = np.zeros(int((total_s + 400) * RATE), dtype=np.float32)
    station = Station("", "", "", total_s)
    t = 5.0
    last_play_end = None
    while t < total_s:
        what = rng.choice(["play", "talk", "ooc", "silence"], p=[0.6, 0.2, 0.12, 0.08])
        if spec.crossfade_all and last_play_end is not None:
            what = "play"
        if what == "play" and t >= total_s - LAST_PLAY_MARGIN_S:
            # Cut at the end under the shortest play: left out of the truth, so its audio must not air
            # either (a 14-s tail of a track aired there counted as a false play, held-out draw 4).
            what = "silence"
        if what == "play":
            idx = int(rng.integers(len(cat)))
            x = load(cat[idx])
            length = len(x) / RATE
            if length < spec.min_track_s:
                continue
            kind = str(rng.choice(["full", "partial", "mid_start"], p=list(spec.kind_p)))
            ref0 = (
                float(rng.uniform(10, max(11, length - spec.mid_start_tail_s)))
                if kind == "mid_start" and length > spec.mid_start_min_track_s
                else 0.0
            )
            dur = length - ref0
            if kind == "partial":
                dur = float(min(dur, rng.uniform(25, 90)))
            dur = min(dur, 240.0)
            seg = rms_norm(x[int(ref0 * RATE) : int((ref0 + dur) * RATE)]).copy()
            start = t
            if (
                last_play_end is not None
                and abs(last_play_end - t) < 0.01
                and (spec.crossfade_all or rng.random() < spec.crossfade_p)
            ):
                xf = float(rng.uniform(*spec.crossfade_s))
                start = t - xf
                if spec.crossfade_out:
                    n = int(xf * RATE)
                    seg[:n] *= np.linspace(0, 1, n, dtype=np.float32)
                    a = int(start * RATE)
                    mix[a : a + n] *= np.linspace(1, 0, n, dtype=np.float32)
                else:
                    seg = _fade(seg, xf, 0)
                kind = "crossfade"
            if spec.talk_over == "mid":
                if rng.random() < spec.talk_over_p and dur > 40:
                    voice = speech(rng, prompts, float(rng.uniform(*spec.talk_over_s)))
                    at = int(float(rng.uniform(10, dur - len(voice) / RATE - 5)) * RATE)
                    seg[at : at + len(voice)] = seg[at : at + len(voice)] * 0.5 + voice
                    kind = "talk_over"
            elif ref0 == 0.0 and kind != "crossfade" and rng.random() < spec.talk_over_p and dur > 40:
                voice = speech(rng, prompts, float(rng.uniform(*spec.talk_over_s)))
                duck = float(rng.uniform(*spec.duck_db))
                n = len(voice)
                seg[:n] = seg[:n] * 10 ** (-duck / 20) + voice * (10 ** (-2 / 20))
                kind += "+talk_over"
            a = int(start * RATE)
            mix[a : a + len(seg)] += seg
            station.plays.append(
                TruthPlay(f"{spec.id_prefix}{idx:03d}", start, start + len(seg) / RATE, ref0, kind)
            )
            t = start + len(seg) / RATE
            last_play_end = t
            continue
        last_play_end = None
        if what == "talk":
            seg = speech(rng, prompts, float(rng.uniform(*spec.talk_s)))
        elif what == "ooc":
            source = other[int(rng.integers(len(other)))]
            x = load(source)
            off = float(rng.uniform(0, max(0.1, len(x) / RATE - 60)))
            seg = rms_norm(x[int(off * RATE) : int((off + rng.uniform(30, 90)) * RATE)])
            end_s = t + len(seg) / RATE
            station.other_music.append(
                {"file": str(source), "start_s": t, "end_s": end_s, "file_offset_s": off, "speed": 1.0}
            )
        else:
            seg = np.zeros(int(rng.uniform(2, 5) * RATE), dtype=np.float32)
        a = int(t * RATE)
        mix[a : a + len(seg)] += seg
        station.negatives.append((str(what), t, t + len(seg) / RATE))
        t += len(seg) / RATE
    end = int(total_s * RATE)
    station.plays = [p for p in station.plays if p.start_s < total_s - LAST_PLAY_MARGIN_S]
    for p in station.plays:
        p.end_s = min(p.end_s, total_s)
    station.negatives = [(k, a, min(b, total_s)) for k, a, b in station.negatives if a < total_s]
    station.other_music = [
        m | {"end_s": min(m["end_s"], total_s)} for m in station.other_music if m["start_s"] < total_s
    ]
    return np.clip(mix[:end], -1, 1), station


def speech(rng: np.random.Generator, prompts: list[Path], seconds: float) -> np.ndarray:
    """Asterisk prompts drawn at random, concatenated to `seconds`, at -18 dBFS RMS."""
    parts, total = [], 0
    while total < seconds * RATE:
        x = decode_mono(prompts[int(rng.integers(len(prompts)))], RATE).astype(np.float32) / 32768
        parts.append(x)
        total += len(x)
    return rms_norm(np.concatenate(parts)[: int(seconds * RATE)], -18.0)


def _write_wav(path: Path, mix: np.ndarray) -> None:
    pcm = (np.clip(mix, -1, 1) * 32767).astype("<i2")
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(RATE), "-ac", "1",
           "-i", "-", str(path)]  # fmt: skip
    subprocess.run(cmd, input=pcm.tobytes(), check=True)


def _degrade(wav: Path, out: Path, degradation: str, rng) -> None:
    base = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav)]
    if degradation == "mp3_128k":
        cmd = base + ["-ar", "44100", "-ac", "2", "-b:a", "128k", str(out)]
    elif degradation == "broadcast":
        chain = (
            "acompressor=threshold=-24dB:ratio=8:attack=5:release=80:makeup=6,highpass=f=80,lowpass=f=5000"
        )
        cmd = base + ["-af", chain, "-ar", "22050", "-ac", "1", "-b:a", "64k", str(out)]
    else:
        fast = wav.with_suffix(".fast.wav")
        subprocess.run(base + ["-af", f"asetrate={int(RATE * FAST)},aresample={RATE}", str(fast)], check=True)
        x = decode_mono(fast, RATE).astype(np.float32)
        fast.unlink()
        noise = rng.normal(0, np.sqrt(np.mean(x**2) / 100), len(x)).astype(np.float32)  # 20 dB SNR
        noisy = wav.with_suffix(".noisy.wav")
        _write_wav(noisy, (x + noise) / 32768)
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(noisy), "-ar", "44100", "-ac", "2",
               "-b:a", "128k", str(out)]  # fmt: skip
        subprocess.run(cmd, check=True)
        noisy.unlink()
        return
    subprocess.run(cmd, check=True)
