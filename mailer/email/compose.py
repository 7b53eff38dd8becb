"""Building MIME messages: once per campaign segment into a template of byte chunks, then
filled per reader by joining bytes (no re-rendering, no re-encoding).

Every message is multipart/alternative (text + HTML, UTF-8, 8bit with lines kept under
SMTP's limit) with Message-ID, Date, From, To, List-Id, ``List-Unsubscribe`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058); bulk mail also carries
``Precedence: bulk`` and ``Auto-Submitted: auto-generated``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.policy import SMTP
from email.utils import formatdate

from mailer.config import Settings
from mailer.email.headers import HeaderValueError, check_slot_value, new_message
from mailer.email.render import SLOT_PATTERN, RenderedEmail, preview_values, slot
from mailer.errors import MessageError
from mailer.tokens import make_test_token

# The reader pages a test email links to; the test links open /test-link/<page>/<token>.
TEST_LINK_PAGES = ("preferences", "unsubscribe", "confirm", "data")


@dataclass(frozen=True)
class MessageTemplate:
    """A whole message as bytes with holes for the per-reader values."""

    chunks: tuple[bytes, ...]
    slots: tuple[str, ...]

    def fill(self, values: dict[str, str]) -> bytes:
        """The message for one reader; a value that could end a header line (CR, LF, any
        control or non-ASCII character) raises MessageError instead of being written."""
        try:
            encoded = {name: check_slot_value(name, values[name]) for name in set(self.slots)}
        except HeaderValueError as exc:
            raise MessageError(str(exc)) from None
        parts = [self.chunks[0]]
        for name, chunk in zip(self.slots, self.chunks[1:], strict=True):
            parts.append(encoded[name])
            parts.append(chunk)
        return b"".join(parts)


def build_template(
    rendered: RenderedEmail,
    *,
    mail_from: str,
    list_id: str,
    bulk: bool,
    extra_headers: dict[str, str] | None = None,
) -> MessageTemplate:
    """Encode one rendered email into a MessageTemplate with reader slots. Every header
    value goes through ``mailer.email.headers`` (no line break, no encoded word)."""
    try:
        message = new_message(
            subject=rendered.subject,
            mail_from=mail_from,
            list_id=list_id,
            bulk=bulk,
            extra_headers=extra_headers,
        )
    except HeaderValueError as exc:
        raise MessageError(str(exc)) from None
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="8bit")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="8bit")
    # Per-reader headers are written by hand: the email package would parse the slot
    # markers as addresses.
    # Every mail, even a confirmation request, offers the one-click way out (RFC 8058):
    # for a pending signup it means "this was not me".
    # Date is filled at each attempt: a message retried hours later must not carry the
    # time its template was built (spam filters score a stale Date).
    reader_headers = [
        f"Date: {slot('date')}",
        f"To: {slot('address')}",
        f"Message-ID: <{slot('message_id')}>",
        f"List-Unsubscribe: <{slot('unsubscribe_url')}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ]
    raw = ("\r\n".join(reader_headers) + "\r\n").encode() + message.as_bytes(policy=SMTP)
    pieces = SLOT_PATTERN.split(raw.decode("utf-8"))
    return MessageTemplate(
        chunks=tuple(piece.encode("utf-8") for piece in pieces[0::2]),
        slots=tuple(pieces[1::2]),
    )


def message_id_for(key: str, domain: str, delivery_id: int, campaign_id: int, reader: int) -> str:
    """The Message-ID of a delivery, the same at every attempt and after any restart, so a
    message repeated after a crash is shown once; keyed by the secret so ids cannot be
    guessed, and bound to campaign and reader so a reused row id gives a new one."""
    tag = hmac.new(
        key.encode(), f"{delivery_id}:{campaign_id}:{reader}".encode(), hashlib.sha256
    ).hexdigest()[:16]
    return f"{delivery_id}.{tag}@{domain}"


def date_header(when: datetime) -> str:
    """RFC 5322 date, as the Date header wants it."""
    return formatdate(when.timestamp(), usegmt=True)


def test_copy(rendered: RenderedEmail, to: str, *, settings: Settings) -> bytes:
    """A campaign's mail as readers get it, addressed to ``to`` and marked [TEST]. Its
    reader links (preferences, unsubscribe, confirm, data) carry a signed, expiring test
    token instead of a reader's: they open a page that says the mail was a test."""
    marked = RenderedEmail(f"[TEST] {rendered.subject}", rendered.text, rendered.html)
    template = build_template(
        marked, mail_from=settings.mail_from, list_id=settings.list_id_header, bulk=True
    )
    values = preview_values(settings, to)
    values["message_id"] = f"test.{secrets.token_hex(8)}@{settings.mail_domain}"
    token = make_test_token(settings)
    for page in TEST_LINK_PAGES:
        values[f"{page}_url"] = f"{settings.base_url}/test-link/{page}/{token}"
    return template.fill(values)
