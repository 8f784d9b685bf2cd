"""Real, freely licensed audio shipped by Debian packages: for the demo, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

SINGULARITY_MUSIC = Path("/usr/share/games/singularity/music")  # 16 tracks, CC BY-SA 3.0
DRASCULA_MUSIC = Path("/usr/share/scummvm/drascula/audio")  # 31 tracks, BSD-like
ASC_MUSIC = Path("/usr/share/games/asc/music")  # 3 long tracks, GPL-2+
FRENCH_SPEECH = Path("/usr/share/asterisk/sounds/fr_CA_f_June")  # 8 kHz prompts, CC BY-SA 3.0
ENGLISH_SPEECH = Path("/usr/share/asterisk/sounds/en_US_f_Allison")


def _files(root: Path, *patterns: str) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found.update(root.rglob(pattern))
    return sorted(found)


def singularity_tracks() -> list[Path]:
    return _files(SINGULARITY_MUSIC, "*.ogg")


def drascula_tracks() -> list[Path]:
    return _files(DRASCULA_MUSIC, "*.ogg", "*.mp3", "*.flac", "*.wav")


def asc_tracks() -> list[Path]:
    return _files(ASC_MUSIC, "*.ogg", "*.mp3", "*.flac", "*.wav")


def _prompts(root: Path) -> list[Path]:
    # silence/ holds 1-10 s of digital silence, and tones are beeps: neither is speech.
    return [
        p
        for p in _files(root, "*.wav")
        if "silence" not in p.parts and "tone" not in p.stem and "beep" not in p.stem
    ]


def french_prompts() -> list[Path]:
    return _prompts(FRENCH_SPEECH)


def english_prompts() -> list[Path]:
    return _prompts(ENGLISH_SPEECH)
