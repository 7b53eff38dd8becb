"""The Sender interface and what a send attempt can end as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Verdict = Literal["sent", "retry", "failed"]
# What went wrong, for counters and the relay's circuit breaker (mailer.sending.breaker).
ErrorClass = Literal["connection", "timeout", "4xx", "5xx", "421", "tls", "other"]
ERROR_CLASSES: tuple[ErrorClass, ...] = (
    "connection",
    "timeout",
    "4xx",
    "5xx",
    "421",
    "tls",
    "other",
)


@dataclass(frozen=True)
class SendResult:
    """``sent`` only on the server's 2xx; ``retry`` for 4xx and lost connections;
    ``failed`` for 5xx (the address or message is refused for good)."""

    verdict: Verdict
    code: int
    reply: str
    # The refusal was of the recipient itself (RCPT), not of the sender or the content:
    # only these count towards suppressing the reader's address.
    address_refused: bool = False
    # Set by a sender for failures without an SMTP reply (code 0): "connection", "timeout"
    # or "tls"; replies with a code are classed by it (``error_class``).
    kind: ErrorClass | None = None

    @property
    def error_class(self) -> ErrorClass | None:
        """None for a 2xx; otherwise the class of failure (see ``ERROR_CLASSES``)."""
        if self.verdict == "sent":
            return None
        if self.code == 421:
            return "421"
        if 400 <= self.code < 500:
            return "4xx"
        if 500 <= self.code < 600:
            return "5xx"
        return self.kind or "other"

    @classmethod
    def from_code(cls, code: int, reply: str, *, address_refused: bool = False) -> SendResult:
        if 200 <= code < 300:
            return cls("sent", code, reply)
        if 500 <= code < 600:
            return cls("failed", code, reply, address_refused)
        return cls("retry", code, reply)


class Sender(Protocol):
    """Sends prebuilt bytes; safe to call concurrently (the sender bounds concurrency)."""

    concurrency: int

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> SendResult: ...

    async def aclose(self) -> None: ...
