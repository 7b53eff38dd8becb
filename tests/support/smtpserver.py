"""A real SMTP server on loopback (aiosmtpd) whose answers tests can script: accept, 4xx,
5xx for chosen recipients, or drop the connection in the middle of DATA.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)  # MAIL FROM's (SIZE=, BODY=)

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


# A rule sees (recipient, attempt number for that recipient) and returns an SMTP reply
# ("250 OK", "451 ...", "550 ...") or "drop" to cut the connection mid-DATA.
Rule = Callable[[str, int], str]


@dataclass
class ScriptedHandler:
    received: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    rcpt_rule: Rule | None = None
    data_rule: Rule | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    eight_bit_mime: bool = True  # False: EHLO does not advertise 8BITMIME (RFC 6152)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.eight_bit_mime:
            return responses
        return [line for line in responses if line[4:].upper() != "8BITMIME"]

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.rcpt_rule is not None:
            with self.lock:
                self.attempts[address] = self.attempts.get(address, 0) + 1
                attempt = self.attempts[address]
            reply = self.rcpt_rule(address, attempt)
            if not reply.startswith("250"):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipient = envelope.rcpt_tos[0]
        if self.data_rule is not None:
            with self.lock:
                key = "data:" + recipient
                self.attempts[key] = self.attempts.get(key, 0) + 1
                attempt = self.attempts[key]
            reply = self.data_rule(recipient, attempt)
            if reply == "drop":
                assert server.transport is not None
                server.transport.close()
                return "421 closing"
            if not reply.startswith("250"):
                return reply
        data = envelope.original_content or b""
        with self.lock:
            self.received.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    data,
                    list(envelope.mail_options),
                )
            )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]


class SMTPServer:
    """Start with ``SMTPServer().start()``; ``url`` is an R2P_SMTP_URL for it."""

    def __init__(self, port: int = 0) -> None:
        self.handler = ScriptedHandler()
        self.port = port
        self.controller: Controller | None = None

    def start(self) -> SMTPServer:
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port or _free_port(),
            ready_timeout=10,
            decode_data=False,
            data_size_limit=10_000_000,
        )
        self.controller.start()
        self.port = self.controller.port
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def __enter__(self) -> SMTPServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
