"""Operations alerts through pige's notifier, with a seam while `pige_pipeline.notify` is absent."""

from __future__ import annotations

import importlib
from typing import Any


def send_ops_alert(log: Any, key: str, subject: str, body: str) -> str:
    """Send one alert; returns what happened ('sent', or why not) for the run's metadata.

    `key` is stable for one condition (for example `ops/storage/low-space`), so the notifier can
    de-duplicate repeats every 30 minutes. Never put a secret in `subject` or `body`.
    """
    try:
        notify = importlib.import_module("pige_pipeline.notify")
        notifier_cls, notification_cls = notify.Notifier, notify.Notification
    except (ImportError, AttributeError):
        log.error(f"ALERT (no notifier installed, logged only) {subject}: {body}")
        return "not sent: pige_pipeline.notify is not installed; logged only"
    try:
        notifier_cls.from_env().send(notification_cls(key=key, subject=subject, body=body))
    except Exception as exc:  # a broken mail server must not hide the alert itself
        log.error(f"ALERT (notifier failed: {type(exc).__name__}: {exc}) {subject}: {body}")
        return f"not sent: {type(exc).__name__}: {exc}"
    log.warning(f"alert sent: {subject}")
    return "sent"
