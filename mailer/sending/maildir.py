"""Development sender: every message lands in a local Maildir, listed on the admin page.

Folders are 0700 and messages 0600 (they hold readers' addresses and signed links): each
message is written to ``tmp/`` with that mode and renamed into ``new/``, as Maildir wants.
A write that fails (disk full, folder not writable) removes its file from ``tmp/`` and is
a ``retry`` for the delivery, as a relay that cannot take the message now would be.
"""

from __future__ import annotations

import asyncio
import itertools
import mailbox
import os
import socket
import time
from pathlib import Path

from mailer.sending.base import SendResult
from mailer.varfiles import FILE_MODE, private_dir

_COUNTER = itertools.count()


def _unique_name() -> str:
    """A Maildir file name: ``<seconds>.M<microseconds>P<pid>Q<n>.<host>``."""
    now = time.time()
    host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
    return f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_COUNTER)}.{host}"


class MaildirSender:
    concurrency = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        mailbox.Maildir(path, create=True).close()  # makes new/, cur/ and tmp/ as 0700

    def _write(self, envelope_from: str, recipient: str, message: bytes) -> str:
        key = _unique_name()
        temporary = self.path / "tmp" / key
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(
                    b"Return-Path: <" + envelope_from.encode() + b">\r\n"
                    b"Delivered-To: " + recipient.encode() + b"\r\n" + message
                )
            temporary.rename(self.path / "new" / key)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return key

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        try:
            key = await asyncio.to_thread(self._write, envelope_from, recipient, message)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return SendResult("retry", 0, f"cannot write to the Maildir: {reason}", kind="other")
        return SendResult("sent", 250, f"stored in Maildir as {key}")

    async def aclose(self) -> None:
        return None
