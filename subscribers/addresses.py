"""Address checking: one normalised form per mailbox, or a reason the reader can act on.

Syntax only (email-validator, no DNS lookup). The stored form is lower-case throughout,
with the domain in its ASCII (IDNA) form: RFC 5321 allows a case-sensitive local part,
but no mainstream mailbox provider uses one, and ``Anna@`` and ``anna@`` as two rows
would mean two consents and double mail. Local parts with non-ASCII characters are
refused: they need SMTPUTF8 all the way to the reader, which we cannot promise.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from mailer.errors import MailerError

MAX_LENGTH = 254  # RFC 5321 path limit, minus the angle brackets
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidAddressError(MailerError):
    """Not an address we can store; the message is written for the reader."""


def normalise_address(raw: str) -> str:
    """The stored form of ``raw`` (surrounding spaces ignored); raises InvalidAddressError."""
    if _CONTROL.search(raw):
        # CR/LF would let an address smuggle headers into a message; never strip them.
        raise InvalidAddressError("The email address contains a line break or control character.")
    text = raw.strip()
    if not text:
        raise InvalidAddressError("Please enter your email address.")
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
