"""Notifications for people: email over SMTP and webhooks, through a durable, idempotent outbox.

    Notifier.from_env().send(Notification(key="dead_air/fm1/...", subject=..., body=..., kind="dead_air"))

The same key is delivered once, however many times it is sent; a channel that is down is retried by
`flush()` (the `notification_outbox` sensor calls it every minute) until it takes the message.
"""

from pige_pipeline.notify.channels import DeliveryError
from pige_pipeline.notify.config import NotifyConfigError, NotifySettings
from pige_pipeline.notify.model import DeliveryState, Notification
from pige_pipeline.notify.notifier import Notifier
from pige_pipeline.notify.outbox import Outbox, outbox_path

__all__ = [
    "DeliveryError",
    "DeliveryState",
    "Notification",
    "Notifier",
    "NotifyConfigError",
    "NotifySettings",
    "Outbox",
    "outbox_path",
]
