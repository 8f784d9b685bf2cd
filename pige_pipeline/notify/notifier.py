"""The notifier every domain uses: `Notifier.from_env().send(Notification(...))`, idempotent by key."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pige_pipeline.notify.channels import DeliveryError, deliver
from pige_pipeline.notify.config import NotifySettings
from pige_pipeline.notify.model import DeliveryState, Notification
from pige_pipeline.notify.outbox import Outbox, outbox_path
from pige_pipeline.settings import PigeSettings

log = logging.getLogger(__name__)


class Notifier:
    """Queues a notification in the durable outbox, then tries to deliver it on every channel."""

    def __init__(self, settings: NotifySettings, outbox: Outbox) -> None:
        self.settings = settings
        self.outbox = outbox

    @classmethod
    def from_env(cls, data_root: Path | None = None) -> Notifier:
        """SMTP/webhooks from PIGE_SMTP_* / PIGE_ALERT_* / PIGE_WEBHOOK_URLS; outbox under the data root."""
        root = data_root or PigeSettings.from_env().data_root
        return cls(NotifySettings.from_env(), Outbox(outbox_path(root)))

    def send(self, note: Notification, now: float | None = None) -> DeliveryState:
        """Deliver `note` once. A key already sent is left alone; one still pending is retried if due."""
        created = self.outbox.add(note, now)
        state = self.outbox.state(note.key)
        if state is not None and state.status == "pending" and (created or self.outbox.is_due(note.key, now)):
            state = self._attempt(note.key, now)
        assert state is not None
        return DeliveryState(
            state.key, state.status, state.attempts, state.notified_at, state.last_error, created
        )

    def flush(self, now: float | None = None) -> list[DeliveryState]:
        """Retry every pending notification that is due; returns what was attempted."""
        return [self._attempt(key, now) for key in self.outbox.due(now)]

    def _attempt(self, key: str, now: float | None) -> DeliveryState:
        current = self.outbox.state(key)
        assert current is not None
        if not self.outbox.claim(key, now):
            return current  # sent meanwhile, or another process is delivering it right now
        note = self.outbox.get(key)
        assert note is not None
        channels = self.settings.channels()
        done = self.outbox.delivered_channels(key)
        errors: list[str] = []
        if not channels:
            errors.append("no channel configured: set PIGE_SMTP_HOST and PIGE_ALERT_TO, or PIGE_WEBHOOK_URLS")
        for channel in channels:
            if channel in done:
                continue
            try:
                deliver(self.settings, channel, note)
            except DeliveryError as exc:
                errors.append(str(exc))
                continue
            self.outbox.record_delivery(key, channel, time.time() if now is None else now)
        error = "; ".join(errors) or None
        self.outbox.finish(key, all_delivered=not errors, error=error, now=now)
        if error:
            log.warning("notification %s not delivered yet (will retry): %s", key, error)
        state = self.outbox.state(key)
        assert state is not None
        return state
