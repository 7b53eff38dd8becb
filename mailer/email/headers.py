"""Mail headers from text nobody vouches for (feed titles, alert subjects, display names).

Every header value goes through ``header_text``: one line, no control characters, and no
RFC 2047 encoded word. The email package decodes ``=?charset?b?...?=`` in a value it is
given, and CPython before 3.11.10 / 3.12.5 (CVE-2024-6923) then writes the decoded CR LF
as a real line break: a ``Bcc:`` or ``Reply-To:`` of the attacker's choosing. A WORD
JOINER (U+2060, invisible) goes between ``=`` and ``?``, so nothing in the value can be
read as an encoded word, while readers still see the text exactly as it was written.

Standard library only, and no imports from this project: tests load this file by path
under each supported Python and run the payloads against that version's email package.
"""

from __future__ import annotations

import re
import unicodedata
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import parseaddr

WORD_JOINER = "\u2060"
# Line breaks of any kind (C0/C1 controls, U+2028/2029) become spaces; a lone surrogate
# (undecodable feed bytes) becomes U+FFFD instead of failing at encoding time.
_AS_SPACE = {"Cc", "Zl", "Zp"}
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,75}")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")
_ADDR_SPEC = re.compile(r"[^\s@<>(),;:\"\[\]\\]+@[A-Za-z0-9.-]+")


class HeaderValueError(ValueError):
    """A header name or address that cannot be written safely."""


def _char(c: str) -> str:
    category = unicodedata.category(c)
    if category in _AS_SPACE:
        return " "
    if category == "Cs":
        return "\ufffd"
    return c


def header_text(value: str) -> str:
    """``value`` as one header-safe line: controls and line breaks are spaces, runs of
    white space are one space, and no ``=?`` is left to start an encoded word."""
    line = " ".join("".join(_char(c) for c in value).split())
    return line.replace("=?", "=" + WORD_JOINER + "?")


def readable(value: str) -> str:
    """What a reader sees: the header text without the invisible word joiners."""
    return value.replace(WORD_JOINER, "")


def mailbox(value: str) -> Address:
    """``Name <user@example.org>`` (or a bare address) as an Address: the display name
    neutralised, the address checked to be one plain ``local@domain``."""
    name, addr = parseaddr(value)
    whole = value.strip()
    if (
        not _ADDR_SPEC.fullmatch(addr)
        or _NOT_PRINTABLE_ASCII.search(addr)
        or any(unicodedata.category(c) in _AS_SPACE for c in value)
        or not (whole == addr or whole.endswith(f"<{addr}>"))
    ):
        raise HeaderValueError(f"not a plain email address: {header_text(value)!r}")
    local, domain = addr.rsplit("@", 1)
    return Address(display_name=header_text(name), username=local, domain=domain)


def new_message(
    *,
    subject: str,
    mail_from: str,
    list_id: str,
    bulk: bool,
    extra_headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A message with its fixed headers set from untrusted text; the caller adds the body."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = header_text(subject)
    message["From"] = mailbox(mail_from)
    message["List-Id"] = header_text(list_id)
    if bulk:
        message["Precedence"] = "bulk"
        message["Auto-Submitted"] = "auto-generated"
    for name, value in (extra_headers or {}).items():
        if not _HEADER_NAME.fullmatch(name):
            raise HeaderValueError(f"not a header name: {header_text(name)!r}")
        message[name] = header_text(value)
    return message


def check_slot_value(name: str, value: str) -> bytes:
    """A per-reader value (address, link, date) as the ASCII bytes written into the
    message; refuses anything that could end a header line or is not ASCII."""
    if _NOT_PRINTABLE_ASCII.search(value):
        raise HeaderValueError(f"the {name} contains a line break, control or non-ASCII character")
    return value.encode("ascii")
