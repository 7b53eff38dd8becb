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

import base64
import re
import unicodedata
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import parseaddr

WORD_JOINER = "\u2060"
# Line breaks of any kind (C0/C1 controls, U+2028/2029) become spaces; a lone surrogate
# (undecodable feed bytes) becomes U+FFFD instead of failing at encoding time.
_AS_SPACE = {"Cc", "Zl", "Zp"}
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,75}")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")
_ADDR_SPEC = re.compile(r"[^\s@<>(),;:\"\[\]\\]+@[A-Za-z0-9.-]+")
# RFC 2047: a line holding encoded words is at most 76 characters; Q encoding keeps
# letters, digits and a few symbols as they are (a space is "_").
ENCODED_LINE = 76
_Q_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/")


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


def _q_word(text: str) -> str:
    out = []
    for byte in text.encode("utf-8"):
        if byte in _Q_SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("_")
        else:
            out.append(f"={byte:02X}")
    return "=?utf-8?q?" + "".join(out) + "?="


def _b_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def _encoded_words(text: str, first: int) -> list[str]:
    """``text`` as RFC 2047 encoded words of whole characters: the first at most
    ``first`` characters long, the others at most ENCODED_LINE - 1 (they follow a fold).
    Q for mostly-ASCII text (readable), B otherwise (shorter)."""
    non_ascii = sum(1 for c in text if ord(c) > 0x7E)
    encode = _q_word if non_ascii * 4 <= len(text) else _b_word
    words: list[str] = []
    budget = first
    start = 0
    while start < len(text):
        end = start + 1
        while end < len(text) and len(encode(text[start : end + 1])) <= budget:
            end += 1
        words.append(encode(text[start:end]))
        start, budget = end, ENCODED_LINE - 1
    return words


def fold_value(name: str, text: str) -> str:
    """The value of header ``name`` as written, folded so that every reader decodes it to
    exactly ``text`` (one header-safe line, as ``header_text`` makes it): printable ASCII
    folded at its spaces, anything else as RFC 2047 encoded words of whole characters,
    no line longer than 76 characters (998 octets at worst). The email package's own
    folder loses or adds spaces around encoded words in the Python versions supported."""
    if not _NOT_PRINTABLE_ASCII.search(text) and "=?" not in text:
        lines = [f"{name}:"]
        for word in text.split(" "):
            if len(lines[-1]) + 1 + len(word) > ENCODED_LINE and lines[-1] != f"{name}:":
                lines.append("")
            lines[-1] += " " + word
        if all(len(line) <= ENCODED_LINE for line in lines):
            lines[0] = lines[0][len(name) + 2 :]
            return "\r\n".join(lines)
    return "\r\n ".join(_encoded_words(text, ENCODED_LINE - len(name) - 2))


class FoldedHeader(str):
    """A header the email package writes as given (``fold_value``), instead of folding it
    itself; as a string it is the readable text, like the package's own header objects."""

    name: str
    folded: str

    def __new__(cls, name: str, text: str) -> FoldedHeader:
        header = super().__new__(cls, text)
        header.name = name
        header.folded = fold_value(name, text)
        return header

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {self.folded}".replace("\r\n", policy.linesep) + policy.linesep


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
    reply_to: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A message with its fixed headers set from untrusted text; the caller adds the body."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = FoldedHeader("Subject", header_text(subject))
    message["From"] = mailbox(mail_from)
    if reply_to:
        message["Reply-To"] = mailbox(reply_to)
    message["List-Id"] = FoldedHeader("List-Id", header_text(list_id))
    if bulk:
        message["Precedence"] = "bulk"
        message["Auto-Submitted"] = "auto-generated"
    for name, value in (extra_headers or {}).items():
        if not _HEADER_NAME.fullmatch(name):
            raise HeaderValueError(f"not a header name: {header_text(name)!r}")
        message[name] = FoldedHeader(name, header_text(value))
    return message


def check_slot_value(name: str, value: str) -> bytes:
    """A per-reader value (address, link, date) as the ASCII bytes written into the
    message; refuses anything that could end a header line or is not ASCII."""
    if _NOT_PRINTABLE_ASCII.search(value):
        raise HeaderValueError(f"the {name} contains a line break, control or non-ASCII character")
    return value.encode("ascii")
