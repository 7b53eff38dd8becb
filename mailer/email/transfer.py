"""A built message made 7-bit safe: every MIME part whose body has 8-bit bytes or a line
over SMTP's 998-octet limit is re-encoded as quoted-printable, on the bytes (the headers
and the other parts are left exactly as they were).

Messages go out 8bit (readable, smaller); this is for the two exceptions: a server that
does not advertise 8BITMIME (RFC 6152), and a body line that cannot be broken (a URL of
a thousand characters), where quoted-printable's soft line breaks keep the text whole.
A DKIM signature is made again over the new body.
"""

from __future__ import annotations

import re
from email import quoprimime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from mailer.email.dkim import DkimSigner, strip_signature

SMTP_LINE = 998  # octets a line, without its CRLF (RFC 5321 4.5.3.1.6)
_CTE = re.compile(rb"(?im)^content-transfer-encoding:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*")
_QP = b"Content-Transfer-Encoding: quoted-printable"


def needs_encoding(body: bytes) -> bool:
    """True when ``body`` has a byte over 127 or a line over 998 octets."""
    if not body.isascii():
        return True
    return any(len(line) > SMTP_LINE for line in body.split(b"\r\n"))


def _quoted_printable(body: bytes) -> bytes:
    text = body.decode("latin-1").replace("\r\n", "\n")
    return quoprimime.body_encode(text, maxlinelen=76, eol="\n").replace("\n", "\r\n").encode()


def _entity(head: bytes, body: bytes) -> tuple[bytes, bytes]:
    """One MIME entity (its header block without the blank line, and its body) with every
    leaf that needs it re-encoded."""
    parsed: Message = BytesHeaderParser(policy=compat32).parsebytes(head + b"\r\n\r\n")
    if parsed.get_content_maintype() == "multipart":
        boundary = parsed.get_boundary()
        if not boundary:
            return head, body
        delimiter = b"\r\n--" + boundary.encode("ascii", "replace")
        pieces = (b"\r\n" + body).split(delimiter)
        for i in range(1, len(pieces)):
            piece = pieces[i]
            if not piece.startswith(b"\r\n"):  # the close delimiter "--" and the epilogue
                continue
            part = piece[2:]
            part_head, sep, part_body = part.partition(b"\r\n\r\n")
            if not sep or part.startswith(b"\r\n"):  # no header block: left as it is
                continue
            part_head, part_body = _entity(part_head, part_body)
            pieces[i] = b"\r\n" + part_head + b"\r\n\r\n" + part_body
        return head, delimiter.join(pieces)[2:]
    cte = str(parsed.get("content-transfer-encoding", "7bit")).strip().lower()
    if cte not in {"7bit", "8bit", "binary"} or not needs_encoding(body):
        return head, body
    head = _CTE.sub(_QP, head, count=1) if _CTE.search(head) else head + b"\r\n" + _QP
    return head, _quoted_printable(body)


def seven_bit(message: bytes, signer: DkimSigner | None = None) -> bytes:
    """``message`` (CRLF line ends) with every part that needs it quoted-printable; with
    ``signer``, its DKIM signature is made again (the old one is removed)."""
    if signer is not None:
        message = strip_signature(message)
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep:
        return message
    head, body = _entity(head, body)
    result = head + b"\r\n\r\n" + body
    return signer.sign(result) if signer is not None else result
