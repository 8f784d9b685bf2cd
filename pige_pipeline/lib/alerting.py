"""Operations alerts through the notifier resource: never lost, never sent twice for one occurrence."""

from pathlib import Path
from typing import Any

from pige_pipeline.lib.resources import NotifierResource
from pige_pipeline.notify import Notification


def send_ops_alert(
    log: Any, notifier: NotifierResource, data_root: Path, key: str, subject: str, body: str
) -> str:
    """Send one alert; returns what happened (the delivery status, or why not) for the run's metadata.

    `key` names one occurrence of a condition (for example `ops/storage/low-space/2026-11-22`): the
    notifier delivers a key once, so a check every 30 minutes does not send 48 mails a day. Never put
    a secret in `subject` or `body`. The outbox is the data root's.
    """
    try:
        state = notifier.notifier(data_root).send(
            Notification(key=key, subject=subject, body=body, kind="ops")
        )
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
