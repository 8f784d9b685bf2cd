"""Operations alerts through pige's notifier (`pige_pipeline.notify`), never lost if it is missing."""

import importlib
from pathlib import Path
from typing import Any


def send_ops_alert(log: Any, key: str, subject: str, body: str, data_root: Path | None = None) -> str:
    """Send one alert; returns what happened (the delivery status, or why not) for the run's metadata.

    `key` names one occurrence of a condition (for example `ops/storage/low-space/2026-11-22`): the
    notifier delivers a key once, so a check every 30 minutes does not send 48 mails a day. Never put
    a secret in `subject` or `body`.
    """
    try:
        notify = importlib.import_module("pige_pipeline.notify")
        notifier_cls, notification_cls = notify.Notifier, notify.Notification
    except (ImportError, AttributeError):
        log.error(f"ALERT (no notifier installed, logged only) {subject}: {body}")
        return "not sent: pige_pipeline.notify is not installed; logged only"
    try:
        notifier = notifier_cls.from_env(data_root)
        state = notifier.send(notification_cls(key=key, subject=subject, body=body, kind="ops"))
    except Exception as exc:  # a broken mail set-up must not hide the alert itself
        log.error(f"ALERT (notifier failed: {type(exc).__name__}: {exc}) {subject}: {body}")
        return f"not sent: {type(exc).__name__}: {exc}"
    status = str(getattr(state, "status", "sent"))
    error = getattr(state, "last_error", None)
    if status != "sent":
        log.error(f"ALERT ({status}: {error or 'queued in the outbox'}) {subject}: {body}")
        return f"{status}: {error}" if error else status
    log.warning(f"alert sent: {subject}")
    return "sent"
