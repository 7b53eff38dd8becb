"""Reading the development Maildir (where mail goes when no SMTP server is configured):
the newest messages' headers, and one message's parts."""

from __future__ import annotations

import email
import email.policy
import mailbox
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

KEY_MAX = 300


@dataclass(frozen=True)
class Envelope:
    key: str
    subject: str
    to: str
    date: str


@dataclass(frozen=True)
class Message:
    envelope: Envelope
    sender: str
    headers: list[tuple[str, str]]
    text: str
    html: str


def _box(path: Path) -> mailbox.Maildir | None:
    if not (path / "cur").is_dir() or not (path / "new").is_dir():
        return None
    return mailbox.Maildir(path, factory=None, create=False)


def _arrival(key: str) -> float:
    """Maildir keys start with the delivery time (``1764000000.M123P45Q6.host``)."""
    try:
        return float(key.split(".", 1)[0])
    except ValueError:
        return 0.0


def _envelope(key: str, headers: email.message.Message) -> Envelope:
    to = headers.get("To") or headers.get("Delivered-To") or ""
    return Envelope(key, str(headers.get("Subject", "")), str(to), str(headers.get("Date", "")))


def newest(path: Path, limit: int = 100) -> tuple[list[Envelope], int]:
    """The ``limit`` newest messages (headers only) and how many there are in all."""
    box = _box(path)
    if box is None:
        return [], 0
    keys = sorted(box.iterkeys(), key=lambda k: (_arrival(k), k), reverse=True)
    parser = BytesHeaderParser(policy=email.policy.default)
    found = []
    for key in keys[:limit]:
        try:
            with box.get_file(key) as handle:
                found.append(_envelope(key, parser.parse(handle)))  # type: ignore[arg-type]
        except (KeyError, FileNotFoundError):
            continue  # removed while we listed
    return found, len(keys)


def _part(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    return str(part.get_content()) if part is not None else ""


def read(path: Path, key: str) -> Message | None:
    """One message by its Maildir key; None when there is no such message."""
    box = _box(path)
    if box is None or len(key) > KEY_MAX:
        return None
    try:
        with box.get_file(key) as handle:
            data = handle.read()
    except (KeyError, FileNotFoundError):
        return None
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    shown = ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Id")
    return Message(
        envelope=_envelope(key, parsed),
        sender=str(parsed.get("From", "")),
        headers=[(name, str(parsed[name])) for name in shown if parsed[name] is not None],
        text=_part(parsed, "plain"),
        html=_part(parsed, "html"),
    )
