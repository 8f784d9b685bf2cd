"""Delivery over one channel: an email over SMTP, or a JSON POST to a webhook."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx

from pige_pipeline.notify.config import NotifyConfigError, NotifySettings, tls_context
from pige_pipeline.notify.model import Notification
from pige_pipeline.stations import redact_url

# OpenSSL's verify codes for "the certificate is valid, but not for this host name / IP address".
X509_V_ERR_HOST_MISMATCH = frozenset({62, 64})


class DeliveryError(RuntimeError):
    """One channel could not take the notification now; it stays in the outbox and is retried."""


def build_email(settings: NotifySettings, note: Notification) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = note.subject
    message["From"] = settings.alert_from
    message["To"] = ", ".join(settings.alert_to)
    message["Date"] = formatdate(usegmt=True)
    # A Message-ID derived from the key lets a mail server drop a duplicate should one ever slip by.
    message["Message-ID"] = make_msgid(idstring=note.key.replace("/", "-")[:60], domain="pige")
    message["X-Pige-Key"] = note.key
    message["X-Pige-Kind"] = note.kind
    message.set_content(note.body)
    return message


def _tls_advice(settings: NotifySettings, exc: ssl.SSLError) -> str:
    """What to change when the TLS handshake fails, for the station engineer reading the alert check."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in X509_V_ERR_HOST_MISMATCH:
            return (
                f"the certificate is not for {settings.smtp_host!r}: set PIGE_SMTP_HOST to a name the "
                "certificate lists"
            )
        trusted = f"the CAs in PIGE_SMTP_CA_FILE={settings.smtp_ca_file}" if settings.smtp_ca_file else ""
        return (
            f"its certificate is not trusted by {trusted or 'the system CA store'}: "
            "set PIGE_SMTP_CA_FILE to the PEM bundle of the CA that signed the mail server's certificate"
        )
    return (
        f"check PIGE_SMTP_SECURITY={settings.smtp_security} (ssl: TLS from the start, usually port 465; "
        "starttls: plain then STARTTLS, usually port 587) and PIGE_SMTP_PORT"
    )


def send_email(settings: NotifySettings, note: Notification) -> None:
    """Send over SMTP (plain, STARTTLS or SSL). Errors never carry the password."""
    message = build_email(settings, note)
    host, port, timeout = settings.smtp_host or "", settings.port, settings.timeout_s
    where = f"{host}:{port}"
    try:
        # Built per delivery: a CA bundle replaced on disk is picked up without a restart.
        context = tls_context(settings.smtp_ca_file) if settings.smtp_security != "none" else None
    except NotifyConfigError as exc:
        raise DeliveryError(f"SMTP {where}: {exc}") from None
    try:
        if settings.smtp_security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=context)
            if settings.smtp_user:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_user, password)
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"SMTP {where} refused the login of {settings.smtp_user!r} ({exc.smtp_code}): "
            "check PIGE_SMTP_USER and PIGE_SMTP_PASSWORD"
        ) from None
    except ssl.SSLError as exc:
        reason = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        raise DeliveryError(
            f"SMTP {where}: TLS handshake failed ({reason}); {_tls_advice(settings, exc)}"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        # The server offers no STARTTLS, or (before STARTTLS) no AUTH: the security mode is wrong.
        raise DeliveryError(
            f"SMTP {where}: {str(exc).rstrip('.')}; "
            f"check PIGE_SMTP_SECURITY={settings.smtp_security} (none, starttls or ssl)"
        ) from None
    except smtplib.SMTPResponseException as exc:
        hint = ""
        if exc.smtp_code == 530 and settings.smtp_security == "none":
            hint = "; the server wants TLS first: set PIGE_SMTP_SECURITY=starttls"
        elif exc.smtp_code == 530 and not settings.smtp_user:
            hint = "; the server wants a login: set PIGE_SMTP_USER and PIGE_SMTP_PASSWORD"
        raise DeliveryError(f"SMTP {where}: {type(exc).__name__}: {exc}{hint}") from None
    except smtplib.SMTPServerDisconnected as exc:
        hint = ""
        if settings.smtp_security != "ssl":
            # A port that wants TLS from its first byte never greets a plain client: it times out.
            hint = (
                "; if the server wants TLS from the first byte (usually port 465), set PIGE_SMTP_SECURITY=ssl"
            )
        raise DeliveryError(f"SMTP {where}: {type(exc).__name__}: {exc}{hint}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {where}: {type(exc).__name__}: {exc}") from None
    if refused:
        raise DeliveryError(f"SMTP {where} refused recipients {sorted(refused)}")


def post_webhook(settings: NotifySettings, url: str, note: Notification) -> None:
    """POST the notification as JSON; any 2xx is delivered."""
    try:
        response = httpx.post(url, json=note.as_json(), timeout=settings.timeout_s)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook {redact_url(url)}: {type(exc).__name__}: {exc}") from None
    if not response.is_success:
        raise DeliveryError(f"webhook {redact_url(url)} answered HTTP {response.status_code}")


def deliver(settings: NotifySettings, channel: str, note: Notification) -> None:
    if channel == "email":
        send_email(settings, note)
    elif channel.startswith("webhook:"):
        post_webhook(settings, channel.removeprefix("webhook:"), note)
    else:
        raise DeliveryError(f"unknown channel {channel!r}")
