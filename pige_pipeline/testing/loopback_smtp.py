"""A real SMTP server on 127.0.0.1 that keeps what it receives: for tests and for trying the settings.

Plain, STARTTLS (`require_starttls`: nothing but EHLO/STARTTLS/QUIT before TLS) or implicit SSL, with a
certificate chain given as PEM files, and optionally AUTH LOGIN/PLAIN that is only accepted over TLS.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def transport_security(server: Any) -> str:
    """The TLS version of the connection an aiosmtpd handler is serving (`TLSv1.3`), or `plain`."""
    ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
    return ssl_object.version() if ssl_object is not None else "plain"


@dataclass
class _Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    # How each message came in (`TLSv1.3` or `plain`), in the order of `messages`.
    transports: list[str] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self.transports.append(transport_security(server))
            self.arrived.notify_all()
        return "250 OK"


class _Controller(Controller):
    """aiosmtpd's Controller, with AUTH allowed on an implicit-SSL connection."""

    def factory(self) -> SMTP:
        server = super().factory()
        if self.ssl_context is not None:
            # aiosmtpd's auth_require_tls only counts STARTTLS as TLS, so it would refuse AUTH on a
            # connection that is TLS from its first byte; the authenticator checks the transport instead.
            server._auth_require_tls = False
        return server


class LoopbackSMTP:
    """aiosmtpd on a loopback port; with `user`/`password` it requires AUTH.

    `security`: `none` (plain TCP; AUTH then allowed on loopback), `starttls` or `ssl`, both with
    `cert_chain` = (certificate PEM, private key PEM). Over TLS, AUTH is refused on a plain connection.
    """

    def __init__(
        self,
        port: int | None = None,
        user: str | None = None,
        password: str | None = None,
        security: Literal["none", "starttls", "ssl"] = "none",
        cert_chain: tuple[Path, Path] | None = None,
    ) -> None:
        if security != "none" and cert_chain is None:
            raise ValueError(f"security={security!r} needs cert_chain=(certificate, key)")
        self.port = port or free_port()
        self.security = security
        self.inbox = _Inbox()
        self.logins: list[str] = []
        kwargs: dict[str, Any] = {}
        context: ssl.SSLContext | None = None
        if cert_chain is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*cert_chain)
        if security == "starttls":
            kwargs |= {"tls_context": context, "require_starttls": True}
        elif security == "ssl":
            kwargs["ssl_context"] = context
        if user is not None:
            tls_only = security != "none"

            def authenticate(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> AuthResult:
                if tls_only and transport_security(server) == "plain":
                    return AuthResult(success=False, handled=False)
                ok = isinstance(data, LoginPassword) and data.login.decode() == user
                ok = ok and data.password.decode() == password
                if ok:
                    self.logins.append(user)
                return AuthResult(success=ok, handled=False)

            # Plain mode allows AUTH without TLS (loopback only; aiosmtpd warns about it).
            kwargs |= {"authenticator": authenticate, "auth_required": True, "auth_require_tls": tls_only}
        self._controller = _Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self.inbox.messages)

    @property
    def transports(self) -> list[str]:
        """How each message came in: the TLS version (`TLSv1.3`) or `plain`."""
        return list(self.inbox.transports)

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
