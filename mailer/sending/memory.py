"""Test and preview sender: keeps every message in a list."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailer.sending.base import SendResult


@dataclass
class MemorySender:
    concurrency: int = 1
    sent: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        self.sent.append((envelope_from, recipient, message))
        return SendResult("sent", 250, "kept in memory")

    async def aclose(self) -> None:
        return None
