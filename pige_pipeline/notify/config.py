"""Where notifications go: SMTP and webhook settings, read from the environment."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from pige_pipeline.stations import check_stream_url, redact_url

ENV_VARS = {
    "smtp_host": "PIGE_SMTP_HOST",
    "smtp_port": "PIGE_SMTP_PORT",
    "smtp_security": "PIGE_SMTP_SECURITY",
    "smtp_user": "PIGE_SMTP_USER",
    "smtp_password": "PIGE_SMTP_PASSWORD",
    "smtp_ca_file": "PIGE_SMTP_CA_FILE",
    "alert_from": "PIGE_ALERT_FROM",
    "alert_to": "PIGE_ALERT_TO",
    "webhook_urls": "PIGE_WEBHOOK_URLS",
}


class NotifyConfigError(ValueError):
    """The notification settings cannot be used; the message names the environment variable."""


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verifying TLS client context: the system CAs, or only the CAs of `ca_file` (a PEM bundle) if set."""
    # Names the variable: this runs both when the settings are read and before every delivery, and
    # the file can disappear in between (a renewed bundle, a moved mount).
    if ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except FileNotFoundError:
        raise NotifyConfigError(f"PIGE_SMTP_CA_FILE: {ca_file} does not exist") from None
    except PermissionError:
        raise NotifyConfigError(
            f"PIGE_SMTP_CA_FILE: {ca_file} cannot be read by this user (check its permissions)"
        ) from None
    except IsADirectoryError:
        raise NotifyConfigError(f"PIGE_SMTP_CA_FILE: {ca_file} is a directory, not a PEM file") from None
    except (ssl.SSLError, OSError) as exc:
        raise NotifyConfigError(
            f"PIGE_SMTP_CA_FILE: {ca_file} holds no usable PEM certificate ({exc.__class__.__name__}: {exc})"
        ) from None


class NotifySettings(BaseModel):
    """SMTP and webhook settings. The password is a SecretStr: it never prints."""

    model_config = ConfigDict(extra="forbid")

    smtp_host: str | None = None
    smtp_port: int | None = Field(None, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    # A private CA's bundle for a relay whose certificate the system store does not trust.
    smtp_ca_file: Path | None = None
    alert_from: str = "pige@localhost"
    alert_to: list[str] = Field(default_factory=list)
    webhook_urls: list[str] = Field(default_factory=list)
    timeout_s: float = 15.0

    @field_validator("alert_to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if "@" not in address:
                raise ValueError(f"{address!r} is not an email address")
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                tls_context(value)  # read it now: a bad bundle is a settings error, not a failed alert
            except NotifyConfigError as exc:
                raise ValueError(str(exc).removeprefix("PIGE_SMTP_CA_FILE: ")) from None
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            check_stream_url(url)  # the same rule: http(s) with a host, nothing else
        return value

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host and self.alert_to)

    @property
    def port(self) -> int:
        return self.smtp_port or {"none": 25, "starttls": 587, "ssl": 465}[self.smtp_security]

    def channels(self) -> list[str]:
        """Channel names a notification must reach: `email` and one `webhook:<url>` per webhook."""
        return (["email"] if self.email_enabled else []) + [f"webhook:{u}" for u in self.webhook_urls]

    def describe(self) -> str:
        """Safe to log: no password, webhook URLs redacted."""
        parts = []
        if self.email_enabled:
            user = f"{self.smtp_user}@" if self.smtp_user else ""
            parts.append(
                f"email via {user}{self.smtp_host}:{self.port} ({self.smtp_security}"
                + (f", CA {self.smtp_ca_file}" if self.smtp_ca_file else "")
                + ") to "
                + ", ".join(self.alert_to)
            )
        parts += [f"webhook {redact_url(u)}" for u in self.webhook_urls]
        return "; ".join(parts) or "no channel configured"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotifySettings:
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for field, var in ENV_VARS.items():
            value = env.get(var, "").strip()
            if not value:
                continue
            if field in ("alert_to", "webhook_urls"):
                raw[field] = [v.strip() for v in value.split(",") if v.strip()]
            elif field == "smtp_security":
                raw[field] = value.lower()
            else:
                raw[field] = value
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            lines = []
            for err in exc.errors():
                var = ENV_VARS.get(str(err["loc"][0]), str(err["loc"][0]))
                lines.append(f"{var}: {err['msg'].removeprefix('Value error, ')}")
            raise NotifyConfigError("notification settings: " + "; ".join(lines)) from None
