"""The notifier against a real SMTP server (aiosmtpd on loopback) and a real loopback webhook."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pige_pipeline.notify import (
    Notification,
    Notifier,
    NotifyConfigError,
    NotifySettings,
    Outbox,
    outbox_path,
)
from pige_pipeline.testing.loopback_smtp import LoopbackSMTP, free_port


def make_notifier(data_root: Path, **settings: object) -> Notifier:
    return Notifier(NotifySettings(**settings), Outbox(outbox_path(data_root)))


def note(key: str = "dead_air/fm1/2026-03-01T10:00:12.3Z") -> Notification:
    return Notification(
        key=key, subject="Dead air on fm1", body="fm1 silent 10:00:12-10:00:40", kind="dead_air"
    )


class Hook:
    """A loopback webhook receiver that answers `status` and keeps the JSON bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()


def test_email_arrives_once_with_subject_and_key(tmp_path: Path) -> None:
    with LoopbackSMTP() as smtp:
        notifier = make_notifier(
            tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, alert_to=["duty@radio.test"]
        )
        first = notifier.send(note())
        again = notifier.send(note())
        assert notifier.flush() == []
        messages = smtp.wait_for(1)
        time.sleep(0.3)
    assert first.status == "sent" and first.created and first.notified_at is not None
    assert again.status == "sent" and not again.created and again.notified_at == first.notified_at
    assert len(smtp.messages) == 1
    assert messages[0]["Subject"] == "Dead air on fm1"
    assert messages[0]["X-Pige-Key"] == note().key
    assert "10:00:12" in messages[0].get_content()


def test_mail_server_down_then_up_is_delivered_once(tmp_path: Path) -> None:
    port = free_port()
    notifier = make_notifier(tmp_path, smtp_host="127.0.0.1", smtp_port=port, alert_to=["duty@radio.test"])
    state = notifier.send(note())
    assert state.status == "pending" and state.notified_at is None
    assert "127.0.0.1" in (state.last_error or "")
    # Not due yet: a flush right away does not hammer the server.
    assert notifier.flush() == []
    # A second process (fresh objects, same outbox file) sees it pending: nothing is lost.
    assert Outbox(outbox_path(tmp_path)).pending_count() == 1
    with LoopbackSMTP(port=port) as smtp:
        later = time.time() + 3600
        flushed = make_notifier(
            tmp_path, smtp_host="127.0.0.1", smtp_port=port, alert_to=["duty@radio.test"]
        ).flush(now=later)
        assert [s.status for s in flushed] == ["sent"]
        assert flushed[0].attempts == 2 and flushed[0].notified_at is not None
        assert notifier.flush(now=later + 3600) == []
        notifier.send(note())
        smtp.wait_for(1)
        time.sleep(0.3)
        assert len(smtp.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_password_never_in_logs_or_state(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-Pa55"
    caplog.set_level(logging.DEBUG)
    with LoopbackSMTP(user="pige", password=secret) as smtp:
        wrong = make_notifier(
            tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_user="pige",
            smtp_password="wrong-" + secret, alert_to=["duty@radio.test"],
        )  # fmt: skip
        failed = wrong.send(note("k1"))
        assert failed.status == "pending"
        assert "PIGE_SMTP_PASSWORD" in (failed.last_error or "")
        right = make_notifier(
            tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_user="pige",
            smtp_password=secret, alert_to=["duty@radio.test"],
        )  # fmt: skip
        assert right.send(note("k2")).status == "sent"
        smtp.wait_for(1)
    assert smtp.logins == ["pige"]
    assert secret not in caplog.text
    assert secret not in repr(right.settings) and secret not in right.settings.describe()
    assert secret.encode() not in outbox_path(tmp_path).read_bytes()


def test_webhook_retry_does_not_resend_email(tmp_path: Path, hook: Hook) -> None:
    hook.status = 503
    with LoopbackSMTP() as smtp:
        notifier = make_notifier(
            tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, alert_to=["duty@radio.test"],
            webhook_urls=[hook.url],
        )  # fmt: skip
        first = notifier.send(note())
        assert first.status == "pending" and "HTTP 503" in (first.last_error or "")
        # Someone was told (the email went): notified_at is set although the webhook is retried.
        assert first.notified_at is not None
        hook.status = 200
        [retried] = notifier.flush(now=time.time() + 3600)
        assert retried.status == "sent"
        smtp.wait_for(1)
        time.sleep(0.3)
        assert len(smtp.messages) == 1
    assert len(hook.bodies) == 2
    assert hook.bodies[-1]["key"] == note().key and hook.bodies[-1]["kind"] == "dead_air"


def test_settings_from_env_name_the_variable() -> None:
    settings = NotifySettings.from_env(
        {
            "PIGE_SMTP_HOST": "mail.radio.test",
            "PIGE_SMTP_SECURITY": "STARTTLS",
            "PIGE_ALERT_TO": "a@radio.test, b@radio.test",
            "PIGE_SMTP_PASSWORD": "hunter2",
        }
    )
    assert settings.port == 587 and settings.alert_to == ["a@radio.test", "b@radio.test"]
    assert "hunter2" not in repr(settings)
    with pytest.raises(NotifyConfigError, match="PIGE_SMTP_SECURITY"):
        NotifySettings.from_env({"PIGE_SMTP_SECURITY": "tls13"})
    with pytest.raises(NotifyConfigError, match="PIGE_ALERT_TO.*not-an-address"):
        NotifySettings.from_env({"PIGE_ALERT_TO": "not-an-address"})
    with pytest.raises(NotifyConfigError, match="PIGE_WEBHOOK_URLS"):
        NotifySettings.from_env({"PIGE_WEBHOOK_URLS": "file:///etc/passwd"})


def test_no_channel_keeps_the_notification_pending(tmp_path: Path) -> None:
    state = make_notifier(tmp_path).send(note())
    assert state.status == "pending" and "PIGE_SMTP_HOST" in (state.last_error or "")
