"""Two labelled sets of station audio for dead air: one to tune the detector on, one to evaluate it on.

Both are made the same way (`field_programme`) from different material, so that the evaluation set
measures audio the thresholds never saw:

| | tuning | evaluation |
|---|---|---|
| music | singularity-music, asc-music, drascula-music | supertux-data, freedroidrpg-data |
| voices | Asterisk prompts (fr_CA June, en_US Allison) | espeak-ng, six voices and languages |
| seeds | 0-99 | 1000 and up |

Each programme is songs with events between them, under the station's conditions: a continuous hiss
floor (pink or white, -45 to -30 dBFS) on some stations, a clean line on others. Dead air (labelled):
programme removed (only the floor left; on clean stations digital zero or a -70..-55 dBFS noise),
mains hum (50/60 Hz and harmonics) and dropouts inside a song (its middle lost). Not dead air (labelled
as quiet programme): sustained chords and organ drones with or without slow tremolo at -45..-35 dBFS,
soft music, and speech with its natural pauses.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, AudioDecodeError, decode_mono
from pige_pipeline.silence.detect import FULL_SCALE
from pige_pipeline.testing import silence_synth as synth

SUPERTUX_MUSIC = Path("/usr/share/games/supertux2/music")  # supertux-data, GPL / CC BY-SA
FREEDROID_MUSIC = Path("/usr/share/freedroidrpg/data/sound/music")  # freedroidrpg-data, GPL-2+
EVAL_PACKAGES = ("supertux-data", "freedroidrpg-data", "espeak-ng")
EVAL_SEED_BASE = 1000

# Sentences spoken by espeak-ng for the evaluation set: (voice, text). Commas and full stops give
# the speaker's own short pauses.
ESPEAK_LINES: tuple[tuple[str, str], ...] = (
    ("en-gb", "Good morning, it is seven o'clock. Here is the news, read by the morning team."),
    ("en-us", "Traffic is heavy on the ring road, so leave a little earlier if you can."),
    ("fr-fr", "Bonjour à tous, il est huit heures. Voici la météo de la journée, un peu de pluie."),
    ("fr-be", "Le match de ce soir commence à vingt heures, en direct sur notre antenne."),
    ("de", "Guten Abend, hier sind die Nachrichten. Das Wetter bleibt bis Freitag kühl."),
    ("es", "Buenas tardes, son las cinco. Ahora, la música que ustedes han pedido."),
    ("it", "Buongiorno, ecco le notizie della mattina. Il traffico è scorrevole in città."),
    ("en-gb-scotland", "Thanks for listening, and stay with us after the break for more music."),
)


@dataclass(frozen=True)
class SetMaterial:
    """What one set is made of."""

    name: str
    music: Callable[[], list[Path]]
    speech: Callable[[], list[Path]]
    seed_base: int


def tuning_music() -> list[Path]:
    return synth.music_pool()


def tuning_speech() -> list[Path]:
    from pige_pipeline.testing import sources

    return sources.french_prompts() + sources.english_prompts()


def evaluation_music() -> list[Path]:
    """supertux-data and freedroidrpg-data .ogg music; a clear error naming the packages if missing."""
    found = sorted(SUPERTUX_MUSIC.rglob("*.ogg")) + sorted(FREEDROID_MUSIC.rglob("*.ogg"))
    if not found:
        raise FileNotFoundError(
            f"no evaluation music under {SUPERTUX_MUSIC} or {FREEDROID_MUSIC}: install the Debian packages "
            f"{' '.join(EVAL_PACKAGES)} (benchmarks/silence_accuracy.py --install does it)"
        )
    return found


@cache
def _espeak_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pige-espeak-"))


def evaluation_speech() -> list[Path]:
    """Sentences spoken by espeak-ng in several voices (written once per process to a temp dir)."""
    out = []
    for i, (voice, text) in enumerate(ESPEAK_LINES):
        path = _espeak_dir() / f"{i:02d}-{voice}.wav"
        if not path.exists():
            try:
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True
                )
            except FileNotFoundError:
                raise FileNotFoundError(
                    "espeak-ng is not installed: the evaluation set's voices come from it "
                    "(apt-get install espeak-ng, or benchmarks/silence_accuracy.py --install)"
                ) from None
        out.append(path)
    return out


TUNING = SetMaterial("tuning", tuning_music, tuning_speech, 0)
EVALUATION = SetMaterial("evaluation", evaluation_music, evaluation_speech, EVAL_SEED_BASE)


@dataclass(frozen=True)
class StationConditions:
    """The line a programme goes through: its hiss floor (None: a clean line) and programme level."""

    hiss_db: float | None
    hiss_colour: str
    programme_db: float


def _excerpt(rng: np.random.Generator, pool: Sequence[Path], seconds: float, rate: int) -> np.ndarray:
    """A stretch of real music with no quiet second of its own, so the labels stay true."""
    for _ in range(30):
        path = pool[rng.integers(len(pool))]
        try:
            audio = decode_mono(path, rate, start_s=float(rng.uniform(3, 60)), duration_s=seconds)
        except AudioDecodeError:  # a short track: the start fell past its end
            continue
        audio = audio.astype(np.float64)
        if len(audio) < 0.98 * seconds * rate:
            continue
        frames = audio[: len(audio) // (rate // 4) * (rate // 4)].reshape(-1, rate // 4)
        level = 10 * np.log10(np.mean(frames**2, axis=1) / FULL_SCALE**2 + 1e-12)
        if level.min() > level.max() - 25 and level.min() > -45:
            return audio
    raise RuntimeError(f"no steady-enough music excerpt of {seconds:.0f} s found in {len(pool)} tracks")


def _speech(rng: np.random.Generator, pool: Sequence[Path], rate: int, count: int = 4) -> np.ndarray:
    talk = [pool[j] for j in rng.integers(len(pool), size=count)]
    # Pauses between sentences: with the recordings' own lead-in and tail, each stays under 2 s.
    return synth.speech_with_pauses(talk, rng.uniform(0.3, 1.1, size=count - 1).tolist(), rate)


def _drone(rng: np.random.Generator, seconds: float, level_db: float, rate: int) -> np.ndarray:
    """A held chord or organ drone on random equal-tempered notes, with slow tremolo half the time."""
    root = 440.0 * 2 ** ((int(rng.integers(-33, -9)) - 0) / 12)  # A1..C3 region roots
    shape = [(0, 7, 12), (0, 4, 7), (0, 3, 7, 10), (0, 12)][int(rng.integers(4))]
    notes = [root * 2 ** (s / 12) for s in shape]
    tremolo = float(rng.uniform(0.3, 3.0)) if rng.random() < 0.5 else None
    return synth.sustained_chord(seconds, level_db, rate, notes_hz=notes, tremolo_hz=tremolo)


def field_programme(
    material: SetMaterial,
    index: int,
    events: int = 12,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
    dead_seconds: tuple[float, float] = (2.5, 25.0),
) -> tuple[synth.Programme, StationConditions]:
    """One labelled programme of a set: index 0, 1, ... gives seeds `material.seed_base + index`."""
    seed = material.seed_base + index
    rng = np.random.default_rng(seed)
    music, speech = material.music(), material.speech()
    rate = sample_rate
    hissy = index % 3 != 2  # two stations in three have a hiss floor
    cond = StationConditions(
        hiss_db=float(rng.uniform(-45, -30)) if hissy else None,
        hiss_colour="pink" if rng.random() < 0.5 else "white",
        programme_db=float(rng.uniform(-18, -14)),
    )
    floor_db = cond.hiss_db if cond.hiss_db is not None else -90.0
    prog = synth.Programme(rate)

    def song(seconds: float) -> np.ndarray:
        return synth.scale_to_db(_excerpt(rng, music, seconds, rate), cond.programme_db)

    def lost(seconds: float, i: int) -> tuple[np.ndarray, str]:
        """What is left when the programme goes: the line's own floor, or a hum on it."""
        kinds = ("removed", "hum") if cond.hiss_db is not None else ("digital_silence", "noise_floor", "hum")
        kind = kinds[i % len(kinds)]
        if kind == "hum":
            mains = float(rng.choice([50.0, 60.0]))
            level = float(rng.uniform(max(-45.0, floor_db + 3), max(-33.0, floor_db + 8)))
            return synth.hum(seconds, level, mains, sample_rate=rate, seed=seed * 100 + i), "hum"
        if kind == "noise_floor":
            return synth.noise_floor(seconds, float(rng.uniform(-70, -55)), rate, seed=seed * 100 + i), kind
        return synth.digital_silence(seconds, rate), ("noise_floor" if cond.hiss_db is not None else kind)

    prog.add(song(float(rng.uniform(8, 16))))
    for i in range(events):
        d = float(rng.uniform(*dead_seconds))
        if i % 4 == 3:
            # A dropout inside a song: its first part, the loss, then the song carries on after it.
            whole = _excerpt(rng, music, 12 + d + 8, rate)
            whole = synth.scale_to_db(whole, cond.programme_db)
            gap, kind = lost(d, i)
            prog.add(whole[: 12 * rate])
            prog.add(gap, dead_kind=kind)
            prog.add(whole[round((12 + d) * rate) :])
        else:
            gap, kind = lost(d, i)
            prog.add(gap, dead_kind=kind)
            prog.add(song(float(rng.uniform(8, 16))))
        if i % 2 == 1:
            label = ("drone", "soft_music", "speech_pauses")[(i // 2) % 3]
            seconds = float(rng.uniform(6, 15))
            quiet = max(float(rng.uniform(-45, -35)), floor_db + 10)
            if label == "drone":
                piece = _drone(rng, seconds, quiet, rate)
            elif label == "soft_music":
                piece = synth.scale_to_db(_excerpt(rng, music, seconds, rate), max(quiet - 5, floor_db + 10))
            else:
                piece = synth.scale_to_db(_speech(rng, speech, rate), cond.programme_db)
            prog.add(piece, quiet_label=label)
            prog.add(song(float(rng.uniform(8, 16))))
    if cond.hiss_db is not None:
        total = sum(len(p) for p in prog.pieces)
        hiss = synth.hiss(total / rate, cond.hiss_db, cond.hiss_colour, rate, seed=seed)
        joined = np.concatenate(prog.pieces) + hiss
        prog.pieces = [joined]
    return prog, cond
