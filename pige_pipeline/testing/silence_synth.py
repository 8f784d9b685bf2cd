"""Labelled test material for dead air: real music and speech with inserted silences of known kinds.

Used by the tests and by `benchmarks.silence_accuracy` to choose and check the detector's thresholds.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, AudioDecodeError, decode_mono
from pige_pipeline.silence.detect import FULL_SCALE

DEAD_KINDS = ("digital_silence", "noise_floor", "hum")


def scale_to_db(signal: np.ndarray, level_db: float) -> np.ndarray:
    """Scale a float signal so its RMS is `level_db` dBFS (int16 full scale)."""
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))
    if rms == 0:
        return signal.astype(np.float64)
    return signal * (FULL_SCALE * 10 ** (level_db / 20) / rms)


def digital_silence(seconds: float, sample_rate: int = ANALYSIS_SAMPLE_RATE) -> np.ndarray:
    return np.zeros(round(seconds * sample_rate))


def noise_floor(
    seconds: float, level_db: float = -60.0, sample_rate: int = ANALYSIS_SAMPLE_RATE, seed: int = 0
) -> np.ndarray:
    """White noise at `level_db` dBFS RMS: a dead line's hiss."""
    rng = np.random.default_rng(seed)
    return scale_to_db(rng.standard_normal(round(seconds * sample_rate)), level_db)


def pink_noise(
    seconds: float, level_db: float = -40.0, sample_rate: int = ANALYSIS_SAMPLE_RATE, seed: int = 0
) -> np.ndarray:
    """Pink (1/f) noise from 20 Hz up at `level_db` dBFS RMS: a receiver's or a tape's hiss."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum *= np.where(freqs >= 20.0, 1.0 / np.sqrt(np.maximum(freqs, 1.0)), 0.0)
    return scale_to_db(np.fft.irfft(spectrum, n), level_db)


def hiss(
    seconds: float,
    level_db: float,
    colour: str = "pink",
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
    seed: int = 0,
) -> np.ndarray:
    """Continuous hiss of a colour ("pink" or "white")."""
    if colour == "white":
        return noise_floor(seconds, level_db, sample_rate, seed)
    if colour == "pink":
        return pink_noise(seconds, level_db, sample_rate, seed)
    raise ValueError(f"hiss colour must be 'pink' or 'white', got {colour!r}")


def sustained_chord(
    seconds: float,
    level_db: float = -40.0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
    notes_hz: Sequence[float] = (220.0, 261.63, 329.63),
    tremolo_hz: float | None = None,
    tremolo_depth: float = 0.5,
) -> np.ndarray:
    """A held synth chord or organ drone (each note with decaying harmonics), optionally with tremolo."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    signal = np.zeros_like(t)
    for f0 in notes_hz:
        for k in range(1, 7):
            if f0 * k < sample_rate / 2:
                signal += np.sin(2 * np.pi * f0 * k * t + 0.3 * k) / k**1.3
    if tremolo_hz:
        signal *= 1.0 + tremolo_depth * np.sin(2 * np.pi * tremolo_hz * t)
    # 50 ms attack and release: a pad fades in and out, it does not click.
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05) if len(t) else t
    return scale_to_db(signal * ramp, level_db)


def hum(
    seconds: float,
    level_db: float = -35.0,
    mains_hz: float = 50.0,
    harmonics: int = 6,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
    noise_db: float | None = -75.0,
    seed: int = 0,
) -> np.ndarray:
    """Mains hum: the fundamental and odd-leaning harmonics, optionally over a faint noise floor."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    rng = np.random.default_rng(seed)
    signal = np.zeros_like(t)
    for k in range(1, harmonics + 1):
        amp = 1.0 / k if k % 2 else 0.5 / k
        signal += amp * np.sin(2 * np.pi * mains_hz * k * t + rng.uniform(0, 2 * np.pi))
    signal = scale_to_db(signal, level_db)
    if noise_db is not None:
        signal = signal + noise_floor(seconds, noise_db, sample_rate, seed + 1)
    return signal


def pianissimo(
    seconds: float, level_db: float = -50.0, sample_rate: int = ANALYSIS_SAMPLE_RATE, seed: int = 0
) -> np.ndarray:
    """A soft classical-like passage: overlapping piano-ish notes (harmonics, decay) on a scale."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    out = np.zeros(n)
    scale = [0, 2, 3, 5, 7, 8, 10, 12]  # natural minor
    t0 = 0.0
    while t0 < seconds:
        dur = rng.uniform(0.4, 1.6)
        for _ in range(rng.integers(1, 4)):  # a note or a small chord
            midi = 57 + rng.choice(scale) + 12 * rng.integers(-1, 2)
            freq = 440.0 * 2 ** ((midi - 69) / 12)
            start = round(t0 * sample_rate)
            length = min(round(dur * 2.5 * sample_rate), n - start)
            if length <= 0:
                continue
            t = np.arange(length) / sample_rate
            note = sum(np.sin(2 * np.pi * freq * h * t) / h**1.5 for h in range(1, 6))
            envelope = np.exp(-t / rng.uniform(0.5, 1.5)) * np.minimum(1.0, t / 0.01)
            out[start : start + length] += rng.uniform(0.5, 1.0) * note * envelope
        t0 += dur
    return scale_to_db(out, level_db)


def attenuate_to_db(samples: np.ndarray, level_db: float) -> np.ndarray:
    """Real programme played very softly: the same audio, scaled to `level_db` dBFS RMS."""
    return scale_to_db(samples.astype(np.float64), level_db)


@dataclass
class Programme:
    """Concatenated audio and the known dead-air stretches in it (seconds)."""

    sample_rate: int
    pieces: list[np.ndarray] = field(default_factory=list)
    truth: list[tuple[float, float, str]] = field(default_factory=list)
    quiet_programme: list[tuple[float, float, str]] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return sum(len(p) for p in self.pieces) / self.sample_rate

    def add(self, audio: np.ndarray, dead_kind: str | None = None, quiet_label: str | None = None) -> None:
        start = self.duration_s
        self.pieces.append(np.asarray(audio, dtype=np.float64))
        end = self.duration_s
        if dead_kind:
            self.truth.append((start, end, dead_kind))
        if quiet_label:
            self.quiet_programme.append((start, end, quiet_label))

    def samples(self) -> np.ndarray:
        audio = np.concatenate(self.pieces) if self.pieces else np.zeros(0)
        return np.clip(np.round(audio), -32768, 32767).astype(np.int16)


def stream_with_loss(dest: Path, music: np.ndarray, lead_s: float, loss_s: float, sample_rate: int) -> Path:
    """`music` with `loss_s` of digital silence after its first `lead_s`, as a station's 128 kb/s stereo
    MP3 (what an Icecast source sends in the live dead-air tests)."""
    lead = round(lead_s * sample_rate)
    audio = np.concatenate([music[:lead], digital_silence(loss_s, sample_rate), music[lead:]])
    raw = dest.with_suffix(".raw")
    raw.write_bytes(np.clip(np.round(audio), -32768, 32767).astype(np.int16).tobytes())
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(sample_rate), "-ac", "1",
         "-i", str(raw), "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", str(dest)],
        check=True,
    )  # fmt: skip
    return dest


def load_excerpt(path: Path, start_s: float, seconds: float, sample_rate: int = ANALYSIS_SAMPLE_RATE):
    """A stretch of a real recording, decoded mono."""
    return decode_mono(path, sample_rate, start_s=start_s, duration_s=seconds).astype(np.float64)


def speech_with_pauses(
    prompts: Sequence[Path], pause_s: Sequence[float], sample_rate: int = ANALYSIS_SAMPLE_RATE
) -> np.ndarray:
    """Speech prompts one after the other, separated by digital-zero pauses (the talker's breaths)."""
    parts: list[np.ndarray] = []
    for i, prompt in enumerate(prompts):
        speech = decode_mono(prompt, sample_rate).astype(np.float64)
        parts.append(scale_to_db(speech, -20.0))
        if i < len(pause_s):
            parts.append(digital_silence(pause_s[i], sample_rate))
    return np.concatenate(parts)


def music_pool() -> list[Path]:
    """Real music from the Debian packages (sources.py), drascula deduplicated by track name."""
    from pige_pipeline.testing import sources

    drascula: dict[str, Path] = {}
    for path in sources.drascula_tracks():
        drascula.setdefault(path.name, path)
    return sources.singularity_tracks() + sources.asc_tracks() + sorted(drascula.values())


def _loud_excerpt(rng: np.random.Generator, pool: Sequence[Path], seconds: float, sample_rate: int):
    """A stretch of real music with no quiet second of its own, so the labels stay true."""
    for _ in range(20):
        path = pool[rng.integers(len(pool))]
        try:
            audio = load_excerpt(path, float(rng.uniform(5, 90)), seconds, sample_rate)
        except AudioDecodeError:  # a short track: the start fell past its end
            continue
        if len(audio) < 0.95 * seconds * sample_rate:
            continue
        frames = audio[: len(audio) // sample_rate * sample_rate].reshape(-1, sample_rate)
        level = 10 * np.log10(np.mean(frames**2, axis=1) / FULL_SCALE**2 + 1e-12)
        if level.min() > -40:
            return audio
    raise RuntimeError("no loud enough music excerpt found in the Debian music packages")


def labelled_programme(
    seed: int = 0,
    events: int = 12,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
    music_seconds: tuple[float, float] = (8.0, 20.0),
    dead_seconds: tuple[float, float] = (2.5, 25.0),
) -> Programme:
    """Music, with dead air of every kind, quiet programme and speech pauses in between; labels known."""
    from pige_pipeline.testing import sources

    rng = np.random.default_rng(seed)
    pool = music_pool()
    prompts = sources.french_prompts() + sources.english_prompts()
    prog = Programme(sample_rate)
    prog.add(_loud_excerpt(rng, pool, float(rng.uniform(*music_seconds)), sample_rate))

    def dead_air(kind: str, seconds: float, i: int) -> np.ndarray:
        if kind == "digital_silence":
            return digital_silence(seconds, sample_rate)
        if kind == "noise_floor":
            return noise_floor(seconds, float(rng.uniform(-70, -55)), sample_rate, seed=i)
        mains = float(rng.choice([50.0, 60.0]))
        return hum(seconds, float(rng.uniform(-45, -33)), mains, sample_rate=sample_rate, seed=i)

    def quiet_programme(label: str, seconds: float, i: int) -> np.ndarray:
        level = float(rng.uniform(-55, -45))
        if label == "pianissimo_synth":
            return pianissimo(seconds, level, sample_rate, seed=i)
        if label == "pianissimo_real":
            return attenuate_to_db(_loud_excerpt(rng, pool, seconds, sample_rate), level)
        talk = [prompts[j] for j in rng.integers(len(prompts), size=5)]
        return speech_with_pauses(talk, rng.uniform(0.3, 1.5, size=4).tolist(), sample_rate)

    quiet_labels = ("pianissimo_synth", "pianissimo_real", "speech_pauses")
    for i in range(events):
        kind = DEAD_KINDS[i % len(DEAD_KINDS)]
        prog.add(dead_air(kind, float(rng.uniform(*dead_seconds)), seed * 1000 + i), dead_kind=kind)
        prog.add(_loud_excerpt(rng, pool, float(rng.uniform(*music_seconds)), sample_rate))
        if i % 2 == 1:
            label = quiet_labels[(i // 2) % len(quiet_labels)]
            prog.add(quiet_programme(label, float(rng.uniform(10, 25)), seed * 1000 + i), quiet_label=label)
            prog.add(_loud_excerpt(rng, pool, float(rng.uniform(*music_seconds)), sample_rate))
    return prog
