"""Delivery over one channel: an email over SMTP, or a JSON POST to a webhook."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx

from pige_pipeline.notify.config import NotifySettings
from pige_pipeline.notify.model import Notification
from pige_pipeline.stations import redact_url


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


def send_email(settings: NotifySettings, note: Notification) -> None:
    """Send over SMTP (plain, STARTTLS or SSL). Errors never carry the password."""
    message = build_email(settings, note)
    host, port, timeout = settings.smtp_host or "", settings.port, settings.timeout_s
    where = f"{host}:{port}"
    try:
        if settings.smtp_security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_user, password)
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"SMTP {where} refused the login of {settings.smtp_user!r} ({exc.smtp_code}): "
            "check PIGE_SMTP_USER and PIGE_SMTP_PASSWORD"
        ) from None
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
