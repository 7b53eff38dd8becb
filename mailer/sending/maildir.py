"""Development sender: every message lands in a local Maildir, listed on the admin page."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path

from mailer.sending.base import SendResult


class MaildirSender:
    concurrency = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(path, create=True)

    def _write(self, envelope_from: str, recipient: str, message: bytes) -> str:
        return self._box.add(
            b"Return-Path: <" + envelope_from.encode() + b">\r\n"
            b"Delivered-To: " + recipient.encode() + b"\r\n" + message
        )

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        key = await asyncio.to_thread(self._write, envelope_from, recipient, message)
        return SendResult("sent", 250, f"stored in Maildir as {key}")

    async def aclose(self) -> None:
        self._box.close()
