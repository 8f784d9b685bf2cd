"""A durable outbox: one SQLite row per notification key, so each is delivered once and never lost.

`{data_root}/state/notify/outbox.sqlite`, in WAL mode so the pipeline, the sensor and the live monitor
can share it. A row is claimed before delivery (a short lease), so two processes flushing at the same
moment do not both send it; each channel's success is recorded on its own, so a retry after a failed
webhook does not send the email again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pige_pipeline.notify.model import DeliveryState, Notification

# How long a claim on a row lasts: longer than one delivery attempt on every channel can take.
CLAIM_S = 120.0
FIRST_RETRY_S = 30.0
MAX_RETRY_S = 900.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    notified_at REAL,
    next_attempt_at REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    delivered_at REAL NOT NULL,
    PRIMARY KEY (key, channel)
);
"""


def outbox_path(data_root: Path) -> Path:
    return data_root / "state" / "notify" / "outbox.sqlite"


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def retry_delay_s(attempts: int) -> float:
    return min(FIRST_RETRY_S * 2 ** max(attempts - 1, 0), MAX_RETRY_S)


class Outbox:
    """The SQLite outbox. Every method opens its own short connection (safe across processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    def add(self, note: Notification, now: float | None = None) -> bool:
        """Put a notification in the outbox; False if its key was already there (nothing changes)."""
        now = time.time() if now is None else now
        with self._connect() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO notifications"
                " (key, kind, subject, body, data, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (note.key, note.kind, note.subject, note.body, json.dumps(note.data, default=str), now, now),
            )
            return cur.rowcount == 1

    def state(self, key: str) -> DeliveryState | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT key, status, attempts, notified_at, last_error FROM notifications WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return DeliveryState(row[0], row[1], row[2], _dt(row[3]), row[4])

    def get(self, key: str) -> Notification | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT key, subject, body, kind, data FROM notifications WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else Notification(row[0], row[1], row[2], row[3], json.loads(row[4]))

    def find(
        self, kind: str, created_from: float, created_to: float
    ) -> list[tuple[Notification, DeliveryState]]:
        """Notifications of one kind queued in a time range, for cross-checks between domains."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT key, subject, body, kind, data, status, attempts, notified_at, last_error"
                " FROM notifications WHERE kind = ? AND created_at BETWEEN ? AND ? ORDER BY created_at",
                (kind, created_from, created_to),
            ).fetchall()
        return [
            (
                Notification(r[0], r[1], r[2], r[3], json.loads(r[4])),
                DeliveryState(r[0], r[5], r[6], _dt(r[7]), r[8]),
            )
            for r in rows
        ]

    def due(self, now: float | None = None, limit: int = 100) -> list[str]:
        """Keys of pending notifications whose next attempt is due, oldest first."""
        now = time.time() if now is None else now
        with self._connect() as db:
            rows = db.execute(
                "SELECT key FROM notifications WHERE status = 'pending' AND next_attempt_at <= ?"
                " AND claimed_until < ? ORDER BY created_at LIMIT ?",
                (now, now, limit),
            ).fetchall()
        return [r[0] for r in rows]

    def is_due(self, key: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._connect() as db:
            row = db.execute(
                "SELECT 1 FROM notifications WHERE key = ? AND status = 'pending' AND next_attempt_at <= ?"
                " AND claimed_until < ?",
                (key, now, now),
            ).fetchone()
        return row is not None

    def pending_count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM notifications WHERE status = 'pending'").fetchone()[0]

    def claim(self, key: str, now: float | None = None) -> bool:
        """Take a pending row for delivery; False if it is sent or another process holds it."""
        now = time.time() if now is None else now
        with self._connect() as db:
            cur = db.execute(
                "UPDATE notifications SET claimed_until = ? WHERE key = ? AND status = 'pending'"
                " AND claimed_until < ?",
                (now + CLAIM_S, key, now),
            )
            return cur.rowcount == 1

    def delivered_channels(self, key: str) -> set[str]:
        with self._connect() as db:
            rows = db.execute("SELECT channel FROM deliveries WHERE key = ?", (key,)).fetchall()
        return {r[0] for r in rows}

    def record_delivery(self, key: str, channel: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO deliveries (key, channel, delivered_at) VALUES (?, ?, ?)",
                (key, channel, now),
            )
            # notified_at: the first time anyone was told.
            db.execute(
                "UPDATE notifications SET notified_at = COALESCE(notified_at, ?) WHERE key = ?", (now, key)
            )

    def finish(self, key: str, all_delivered: bool, error: str | None, now: float | None = None) -> None:
        """Release the claim: mark sent, or schedule the next attempt with exponential backoff."""
        now = time.time() if now is None else now
        with self._connect() as db:
            if all_delivered:
                db.execute(
                    "UPDATE notifications SET status = 'sent', attempts = attempts + 1, last_error = NULL,"
                    " claimed_until = 0 WHERE key = ?",
                    (key,),
                )
                return
            attempts = (
                db.execute("SELECT attempts FROM notifications WHERE key = ?", (key,)).fetchone()[0] + 1
            )
            db.execute(
                "UPDATE notifications SET attempts = ?, last_error = ?, next_attempt_at = ?,"
                " claimed_until = 0 WHERE key = ?",
                (attempts, error, now + retry_delay_s(attempts), key),
            )
