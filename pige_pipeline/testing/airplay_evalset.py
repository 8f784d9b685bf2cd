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
    kind: str  # full / partial / mid_start / crossfade / talk_over


@dataclass
class Station:
    name: str
    degradation: str
    path: str
    duration_s: float
    plays: list[TruthPlay] = field(default_factory=list)
    negatives: list[tuple[str, float, float]] = field(default_factory=list)  # (talk|ooc|silence, start, end)


def distinct_tracks() -> list[Path]:
    """Every music file once (drascula ships the same tracks under five language folders)."""
    seen, out = set(), []
    for path in singularity_tracks() + drascula_tracks() + asc_tracks():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append(path)
    return out


def _rms_norm(x: np.ndarray, db: float = -20.0) -> np.ndarray:
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


def build(out: Path, minutes: float = 60.0, seed: int = 5) -> dict:
    """Write catalogue.csv, the stations' audio and truth.json under `out`; returns the truth."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tracks = distinct_tracks()
    order = rng.permutation(len(tracks))
    held = [tracks[i] for i in order[:HELD_OUT]]
    cat = [tracks[i] for i in order[HELD_OUT:]]
    rows = [
        {"track_id": f"T{i:03d}", "title": p.stem, "artist": p.parent.name, "isrc": "", "path": str(p)}
        for i, p in enumerate(cat)
    ]
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
        mix, station = _timeline(rng, minutes * 60, cat, held, prompts, load)
        station.name, station.degradation = name, degradation
        wav = out / f"{name}.mix.wav"
        _write_wav(wav, mix)
        path = out / f"{name}.mp3"
        _degrade(wav, path, degradation, rng)
        wav.unlink()
        if degradation == "fast_noise":
            for p in station.plays:
                p.start_s, p.end_s = p.start_s / FAST, p.end_s / FAST
            station.negatives = [(k, a / FAST, b / FAST) for k, a, b in station.negatives]
            station.duration_s /= FAST
        station.path = str(path)
        stations.append(station)
    truth = {"catalogue": str(out / "catalogue.csv"), "stations": [asdict(s) for s in stations]}
    (out / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


def _timeline(rng, total_s, cat, held, prompts, load) -> tuple[np.ndarray, Station]:
    mix = np.zeros(int((total_s + 400) * RATE), dtype=np.float32)
    station = Station("", "", "", total_s)
    t = 5.0
    last_play_end = None
    while t < total_s:
        what = rng.choice(["play", "talk", "ooc", "silence"], p=[0.6, 0.2, 0.12, 0.08])
        if what == "play":
            idx = int(rng.integers(len(cat)))
            x = load(cat[idx])
            length = len(x) / RATE
            if length < 20:
                continue
            kind = str(rng.choice(["full", "partial", "mid_start"], p=[0.4, 0.3, 0.3]))
            ref0 = (
                float(rng.uniform(10, max(11, length - 40))) if kind == "mid_start" and length > 60 else 0.0
            )
            dur = length - ref0
            if kind == "partial":
                dur = float(min(dur, rng.uniform(25, 90)))
            dur = min(dur, 240.0)
            seg = _rms_norm(x[int(ref0 * RATE) : int((ref0 + dur) * RATE)])
            start = t
            if last_play_end is not None and abs(last_play_end - t) < 0.01 and rng.random() < 0.4:
                xf = float(rng.uniform(3, 6))  # crossfade with the play before
                start = t - xf
                seg = _fade(seg, xf, 0)
                kind = "crossfade"
            talk_over = rng.random() < 0.3 and dur > 40
            if talk_over:
                speech = _speech(rng, prompts, float(rng.uniform(8, 15)))
                at = int(float(rng.uniform(10, dur - len(speech) / RATE - 5)) * RATE)
                seg = seg.copy()
                seg[at : at + len(speech)] = seg[at : at + len(speech)] * 0.5 + speech
                kind = "talk_over"
            a = int(start * RATE)
            mix[a : a + len(seg)] += seg
            station.plays.append(TruthPlay(f"T{idx:03d}", start, start + len(seg) / RATE, ref0, kind))
            t = start + len(seg) / RATE
            last_play_end = t
            continue
        last_play_end = None
        if what == "talk":
            seg = _speech(rng, prompts, float(rng.uniform(20, 60)))
        elif what == "ooc":
            x = load(held[int(rng.integers(len(held)))])
            off = float(rng.uniform(0, max(0.1, len(x) / RATE - 60)))
            seg = _rms_norm(x[int(off * RATE) : int((off + rng.uniform(30, 90)) * RATE)])
        else:
            seg = np.zeros(int(rng.uniform(2, 5) * RATE), dtype=np.float32)
        a = int(t * RATE)
        mix[a : a + len(seg)] += seg
        station.negatives.append((str(what), t, t + len(seg) / RATE))
        t += len(seg) / RATE
    end = int(total_s * RATE)
    station.plays = [p for p in station.plays if p.start_s < total_s - 15]
    for p in station.plays:
        p.end_s = min(p.end_s, total_s)
    station.negatives = [(k, a, min(b, total_s)) for k, a, b in station.negatives if a < total_s]
    return np.clip(mix[:end], -1, 1), station


def _speech(rng, prompts: list[Path], seconds: float) -> np.ndarray:
    parts, total = [], 0
    while total < seconds * RATE:
        x = decode_mono(prompts[int(rng.integers(len(prompts)))], RATE).astype(np.float32) / 32768
        parts.append(x)
        total += len(x)
    return _rms_norm(np.concatenate(parts)[: int(seconds * RATE)], -18.0)


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
