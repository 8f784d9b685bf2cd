"""Which Whisper model to run and how: a pydantic model filled from PIGE_WHISPER_* variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pige_pipeline.settings import model_from_env
from pige_pipeline.speech.whisper_model import ensure_whisper_base

# Names faster-whisper resolves through the Hugging Face cache; with local_files_only they only work if
# the model was cached beforehand, never by downloading.
KNOWN_MODEL_NAMES = frozenset(
    {"tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
     "large-v1", "large-v2", "large-v3", "large", "distil-large-v2", "distil-large-v3", "turbo"}
)  # fmt: skip


class WhisperSettings(BaseModel):
    """Transcription settings. Build with `WhisperSettings.from_env()`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(
        None, description="Local CTranslate2 directory or a cached model name; None = the embedded base."
    )
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = Field("int8", description="CTranslate2 compute type: int8, int8_float16, float16...")
    cpu_threads: int = Field(2, ge=1, le=256)
    beam_size: int = Field(5, ge=1, le=20)
    batch_size: int = Field(8, ge=1, le=128, description="30 s windows decoded together.")

    @classmethod
    def from_env(cls) -> WhisperSettings:
        """PIGE_WHISPER_MODEL, _DEVICE, _COMPUTE_TYPE, _CPU_THREADS, _BEAM_SIZE, _BATCH_SIZE."""
        fields = ("model", "device", "compute_type", "cpu_threads", "beam_size", "batch_size")
        return model_from_env(cls, {f: f"PIGE_WHISPER_{f.upper()}" for f in fields}, "Whisper settings")

    def model_path(self) -> str:
        """A directory or cached name faster-whisper can load without the network."""
        if self.model is None:
            return str(ensure_whisper_base())
        path = Path(self.model).expanduser()
        if path.is_dir():
            if not (path / "model.bin").exists():
                raise ValueError(
                    f"PIGE_WHISPER_MODEL={self.model}: directory has no model.bin; "
                    "point it at a CTranslate2 model directory (converted with ct2-transformers-converter)"
                )
            return str(path)
        if self.model in KNOWN_MODEL_NAMES:
            return self.model
        raise ValueError(
            f"PIGE_WHISPER_MODEL={self.model}: neither an existing directory nor a Whisper model name "
            f"({', '.join(sorted(KNOWN_MODEL_NAMES))}); unset it to use the embedded base model"
        )

    def label(self) -> str:
        name = Path(self.model).name if self.model else "whisper-base"
        return f"{name} ({self.device}, {self.compute_type})"
