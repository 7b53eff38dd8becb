"""Address checking: one normalised form per mailbox, or a reason the reader can act on.

Syntax only (email-validator, no DNS lookup). The stored form is lower-case throughout,
with the domain in its ASCII (IDNA) form: RFC 5321 allows a case-sensitive local part,
but no mainstream mailbox provider uses one, and ``Anna@`` and ``anna@`` as two rows
would mean two consents and double mail. Local parts with non-ASCII characters are
refused: they need SMTPUTF8 all the way to the reader, which we cannot promise.

``mailbox_key`` folds the spellings that reach one inbox (plus-tags; dots and
googlemail.com at Gmail) for counting mail per person, never for storing: a reader is
stored, and mailed, at the address they typed.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from mailer.errors import MailerError
from mailer.i18n import N_

MAX_LENGTH = 254  # RFC 5321 path limit, minus the angle brackets
# Providers that ignore dots in the local part, under the name they deliver as.
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidAddressError(MailerError):
    """Not an address we can store; the message is written for the reader."""


def normalise_address(raw: str) -> str:
    """The stored form of ``raw`` (surrounding spaces ignored); raises InvalidAddressError."""
    if _CONTROL.search(raw):
        # CR/LF would let an address smuggle headers into a message; never strip them.
        raise InvalidAddressError(
            N_("The email address contains a line break or control character.")
        )
    text = raw.strip()
    if not text:
        raise InvalidAddressError(N_("Please enter your email address."))
    if len(text) > MAX_LENGTH:
        raise InvalidAddressError(f"The email address is longer than {MAX_LENGTH} characters.")
    try:
        checked = validate_email(
            text, check_deliverability=False, allow_smtputf8=False, strict=True
        )
    except EmailNotValidError as exc:
        raise InvalidAddressError(str(exc)) from None
    address = f"{checked.local_part}@{checked.ascii_domain}".lower()
    if len(address) > MAX_LENGTH:
        raise InvalidAddressError(f"The email address is longer than {MAX_LENGTH} characters.")
    return address


def domain_of(address: str) -> str:
    """The destination domain of a normalised address."""
    return address.rpartition("@")[2]


def mailbox_key(address: str) -> str:
    """One key for every spelling of a normalised address that reaches the same inbox:
    the plus-tag dropped (``anna+news@`` is ``anna@``; a local part that starts with
    ``+`` is kept whole), and at Gmail the dots dropped and googlemail.com folded in."""
    local, _, domain = address.lower().rpartition("@")
    base = local.split("+", 1)[0]
    if base:
        local = base
    if domain in DOTLESS_DOMAINS:
        domain = DOTLESS_DOMAINS[domain]
        local = local.replace(".", "") or local
    return f"{local}@{domain}"
