"""A real SMTP server on 127.0.0.1 that keeps what it receives: for tests and for trying the settings."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class _Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self.arrived.notify_all()
        return "250 OK"


class LoopbackSMTP:
    """aiosmtpd on a loopback port; with `user`/`password` it requires AUTH (plain TCP: loopback only)."""

    def __init__(self, port: int | None = None, user: str | None = None, password: str | None = None) -> None:
        self.port = port or free_port()
        self.inbox = _Inbox()
        self.logins: list[str] = []
        kwargs: dict[str, Any] = {}
        if user is not None:

            def authenticate(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> AuthResult:
                ok = isinstance(data, LoginPassword) and data.login.decode() == user
                ok = ok and data.password.decode() == password
                if ok:
                    self.logins.append(user)
                return AuthResult(success=ok, handled=False)

            kwargs = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self.inbox.messages)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[EmailMessage]:
        """Block until at least `count` messages arrived (or the timeout); returns what is there."""
        deadline = time.monotonic() + timeout_s
        with self.inbox.arrived:
            while len(self.inbox.messages) < count and time.monotonic() < deadline:
                self.inbox.arrived.wait(max(0.0, deadline - time.monotonic()))
        return self.messages

    def start(self) -> LoopbackSMTP:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> LoopbackSMTP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
