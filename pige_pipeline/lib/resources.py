"""The resources of the pige assets: the data root and stations, and one per external system."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import dagster as dg
from pydantic import BaseModel, Field, ValidationError

from pige_pipeline.settings import PigeSettings
from pige_pipeline.stations import StationsFile, load_stations

if TYPE_CHECKING:  # heavy or domain imports stay out of the code location's start-up
    from pige_pipeline.airplay.acoustid_lookup import AcoustIdLookup
    from pige_pipeline.llm import OllamaSettings
    from pige_pipeline.maintenance.storage import StorageThresholds
    from pige_pipeline.notify import Notifier
    from pige_pipeline.notify.config import NotifySettings
    from pige_pipeline.speech.settings import WhisperSettings
    from pige_pipeline.speech.transcribe import Transcriber

_Model = TypeVar("_Model", bound=BaseModel)
_R = TypeVar("_R", bound=dg.ConfigurableResource)


class PigeResource(dg.ConfigurableResource):
    """Data root and station registry. Empty fields fall back to PIGE_DATA_ROOT / PIGE_STATIONS."""

    data_root: str = ""
    stations_file: str = ""
    catalogue_file: str = ""

    def settings(self) -> PigeSettings:
        base = PigeSettings.from_env()
        data_root = Path(self.data_root).resolve() if self.data_root else base.data_root
        stations = (
            Path(self.stations_file)
            if self.stations_file
            else (base.stations_file if not self.data_root else data_root / "stations.yaml")
        )
        catalogue = (
            Path(self.catalogue_file)
            if self.catalogue_file
            else (base.catalogue_file if not self.data_root else data_root / "catalogue" / "catalogue.csv")
        )
        return PigeSettings(data_root=data_root, stations_file=stations, catalogue_file=catalogue)

    def stations(self) -> StationsFile:
        return load_stations(self.settings().stations_file)


# Each external system is one resource. An empty field means "from the environment of the process that
# runs the step, else the built-in default": a GPU worker sets PIGE_WHISPER_DEVICE=cuda on its own machine,
# and the code server need not know. `configured_from_env` binds each variable that is set where the code
# location loads as a `dg.EnvVar`, so the UI shows which variable configures what.


class WhisperResource(dg.ConfigurableResource):
    """Whisper (faster-whisper): model, device and compute type. Empty: PIGE_WHISPER_* or the defaults."""

    model: str = Field("", description="CTranslate2 model directory or cached name (PIGE_WHISPER_MODEL).")
    device: str = Field("", description="cpu, cuda or auto (PIGE_WHISPER_DEVICE).")
    compute_type: str = Field("", description="int8, int8_float16, float16... (PIGE_WHISPER_COMPUTE_TYPE).")
    cpu_threads: str = Field("", description="Threads per model on the CPU (PIGE_WHISPER_CPU_THREADS).")
    beam_size: str = Field("", description="Beam search width (PIGE_WHISPER_BEAM_SIZE).")
    batch_size: str = Field("", description="30 s windows decoded together (PIGE_WHISPER_BATCH_SIZE).")

    def whisper_settings(self) -> WhisperSettings:
        from pige_pipeline.speech.settings import WhisperSettings

        return _override(WhisperSettings.from_env(), self, "Whisper resource (PIGE_WHISPER_*)")

    def transcriber(self) -> Transcriber:
        """The process's loaded model for these settings (loaded once per worker process)."""
        from pige_pipeline.speech.transcribe import shared_transcriber

        return shared_transcriber(self.whisper_settings())


class LLMResource(dg.ConfigurableResource):
    """The LLM behind summaries (an Ollama server). Empty: OLLAMA_HOST / PIGE_OLLAMA_* or the defaults."""

    host: str = Field("", description="Ollama base URL; unset everywhere = offline summaries (OLLAMA_HOST).")
    model: str = Field("", description="Ollama model name (PIGE_OLLAMA_MODEL).")
    timeout_s: str = Field("", description="Seconds to wait for one reply (PIGE_OLLAMA_TIMEOUT_S).")
    retries: str = Field("", description="Extra attempts after a failed one (PIGE_OLLAMA_RETRIES).")

    def ollama_settings(self) -> OllamaSettings:
        from pige_pipeline.llm import OllamaSettings

        return _override(OllamaSettings.from_env(), self, "LLM resource (OLLAMA_HOST, PIGE_OLLAMA_*)")


class StorageHealthResource(dg.ConfigurableResource):
    """When the disk check fails and alerts. Empty: PIGE_STORAGE_MIN_* or the defaults (14 days, 5 %)."""

    min_days: str = Field("", description="Days of recording that must fit (PIGE_STORAGE_MIN_DAYS).")
    min_free_percent: str = Field(
        "", description="Free space below which it alerts, in % (PIGE_STORAGE_MIN_FREE_PERCENT)."
    )

    def thresholds(self) -> StorageThresholds:
        from pige_pipeline.maintenance.storage import StorageThresholds

        base = StorageThresholds.from_env()
        values = {}
        for field in ("min_days", "min_free_percent"):
            raw = getattr(self, field).strip()
            try:
                values[field] = float(raw) if raw else getattr(base, field)
            except ValueError:
                raise ValueError(f"storage resource: {field}={raw!r} is not a number (example: 14)") from None
        return StorageThresholds(**values)


class NotifierResource(dg.ConfigurableResource):
    """Where alerts go: SMTP and webhooks, through the durable outbox. Empty: PIGE_SMTP_* / PIGE_ALERT_*."""

    smtp_host: str = Field("", description="Mail relay host; unset = no mail (PIGE_SMTP_HOST).")
    smtp_port: str = Field("", description="Mail relay port (PIGE_SMTP_PORT).")
    smtp_security: str = Field("", description="none, starttls or ssl (PIGE_SMTP_SECURITY).")
    smtp_user: str = Field("", description="Mail relay login (PIGE_SMTP_USER).")
    smtp_password: str = Field(
        "", description="Mail relay password; bind it as an EnvVar (PIGE_SMTP_PASSWORD)."
    )
    smtp_ca_file: str = Field("", description="PEM bundle of the relay's CA (PIGE_SMTP_CA_FILE).")
    alert_from: str = Field("", description="Sender address (PIGE_ALERT_FROM).")
    alert_to: str = Field("", description="Comma-separated recipients (PIGE_ALERT_TO).")
    webhook_urls: str = Field("", description="Comma-separated webhook URLs (PIGE_WEBHOOK_URLS).")

    def notify_settings(self) -> NotifySettings:
        from pige_pipeline.notify.config import ENV_VARS, NotifySettings

        # NotifySettings reads variables (lists are comma-separated there): the resource's fields go in as
        # the variables they stand for, so both paths give the same values and the same errors.
        environ = dict(os.environ)
        environ.update(
            {ENV_VARS[f]: v for f, v in self.model_dump().items() if isinstance(v, str) and v.strip()}
        )
        return NotifySettings.from_env(environ)

    def notifier(self, data_root: Path) -> Notifier:
        """A notifier whose outbox is the data root's (shared by every process that alerts)."""
        from pige_pipeline.notify import Notifier
        from pige_pipeline.notify.outbox import Outbox, outbox_path

        return Notifier(self.notify_settings(), Outbox(outbox_path(data_root)))


class AcoustIDResource(dg.ConfigurableResource):
    """AcoustID lookups of unknown music. Empty: PIGE_ACOUSTID_KEY / _URL; no key anywhere = no lookups."""

    api_key: str = Field(
        "", description="AcoustID application key; bind it as an EnvVar (PIGE_ACOUSTID_KEY)."
    )
    base_url: str = Field("", description="Base URL of the AcoustID API (PIGE_ACOUSTID_URL).")

    def lookup(self) -> AcoustIdLookup | None:
        """The rate-limited lookup, or None when no key is set anywhere (the default: off)."""
        from pige_pipeline.airplay.acoustid_lookup import lookup_from_env

        return lookup_from_env(self.api_key, self.base_url, "the acoustid resource's base_url")


def _override(base: _Model, resource: dg.ConfigurableResource, what: str) -> _Model:
    """`base` with the resource's non-empty fields on top, validated again (the same clear errors)."""
    fields = {k: v.strip() for k, v in resource.model_dump().items() if isinstance(v, str) and v.strip()}
    try:
        return type(base).model_validate({**base.model_dump(), **fields})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{what}: {problems}") from None


# The environment variable behind each field.
RESOURCE_ENV: dict[type[dg.ConfigurableResource], dict[str, str]] = {
    WhisperResource: {f: f"PIGE_WHISPER_{f.upper()}" for f in WhisperResource.model_fields},
    LLMResource: {
        "host": "OLLAMA_HOST",
        "model": "PIGE_OLLAMA_MODEL",
        "timeout_s": "PIGE_OLLAMA_TIMEOUT_S",
        "retries": "PIGE_OLLAMA_RETRIES",
    },
    StorageHealthResource: {
        "min_days": "PIGE_STORAGE_MIN_DAYS",
        "min_free_percent": "PIGE_STORAGE_MIN_FREE_PERCENT",
    },
    AcoustIDResource: {"api_key": "PIGE_ACOUSTID_KEY", "base_url": "PIGE_ACOUSTID_URL"},
    NotifierResource: {
        "smtp_host": "PIGE_SMTP_HOST",
        "smtp_port": "PIGE_SMTP_PORT",
        "smtp_security": "PIGE_SMTP_SECURITY",
        "smtp_user": "PIGE_SMTP_USER",
        "smtp_password": "PIGE_SMTP_PASSWORD",
        "smtp_ca_file": "PIGE_SMTP_CA_FILE",
        "alert_from": "PIGE_ALERT_FROM",
        "alert_to": "PIGE_ALERT_TO",
        "webhook_urls": "PIGE_WEBHOOK_URLS",
    },
}


def configured_from_env(cls: type[_R], environ: Mapping[str, str] | None = None) -> _R:
    """`cls` with a `dg.EnvVar` for each of its variables that is set in `environ` (default: os.environ)."""
    environ = os.environ if environ is None else environ
    return cls(**{f: dg.EnvVar(v) for f, v in RESOURCE_ENV[cls].items() if environ.get(v, "").strip()})


def pige_resources(pige: PigeResource | None = None) -> dict[str, dg.ConfigurableResource]:
    """Every resource the assets use, keyed as they ask for them; `pige` replaces the default one."""
    return {
        "pige": pige or PigeResource(),
        "whisper": configured_from_env(WhisperResource),
        "llm": configured_from_env(LLMResource),
        "storage": configured_from_env(StorageHealthResource),
        "notifier": configured_from_env(NotifierResource),
        "acoustid": configured_from_env(AcoustIDResource),
    }
