"""What a notification is: a stable key, a subject, a body, a kind and optional structured data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Notification:
    """One message to people. `key` makes sending idempotent: the same key is delivered once."""

    key: str
    subject: str
    body: str
    kind: str = "generic"
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "subject": self.subject,
            "body": self.body,
            "data": self.data,
        }


@dataclass(frozen=True)
class DeliveryState:
    """Where a notification stands in the outbox."""

    key: str
    status: str  # pending (retried later) / sent / no_channel
    attempts: int
    notified_at: datetime | None
    last_error: str | None
    created: bool = False  # True when this call put the key in the outbox
