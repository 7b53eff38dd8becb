"""Building MIME messages: once per campaign segment into a template of byte chunks, then
filled per reader by joining bytes (no re-rendering, no re-encoding).

Every message is multipart/alternative (text + HTML, UTF-8, 8bit) with Message-ID, Date,
From, To, List-Id, ``List-Unsubscribe`` and ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click`` (RFC 8058), and Reply-To when R2P_REPLY_TO is set; bulk mail
also carries ``Precedence: bulk``, ``Auto-Submitted: auto-generated`` and a
``Feedback-ID`` (``feedback_id``). A part with a line that could pass SMTP's 998-octet
limit once the reader's values are in (a URL of a thousand characters) is sent
quoted-printable instead (``mailer.email.transfer``).
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
from mailer.email.transfer import SMTP_LINE, seven_bit
from mailer.errors import MessageError
from mailer.tokens import make_test_token

# The reader pages a test email links to; the test links open /test-link/<page>/<token>.
TEST_LINK_PAGES = ("preferences", "unsubscribe", "confirm", "data")

# Room a reader's value (address, signed link, date) may take where its slot is: a line
# that could pass SMTP_LINE with every slot on it this long makes the template's messages
# quoted-printable; a longer value makes that one message quoted-printable.
SLOT_ROOM = 400
FEEDBACK_SENDER = "r2pmailer"


@dataclass(frozen=True)
class MessageTemplate:
    """A whole message as bytes with holes for the per-reader values."""

    chunks: tuple[bytes, ...]
    slots: tuple[str, ...]
    long_lines: bool = False  # a line may pass SMTP_LINE: quoted-printable after filling

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
        message = b"".join(parts)
        if self.long_lines or any(len(value) > SLOT_ROOM for value in encoded.values()):
            return seven_bit(message)
        return message


def _may_pass_line_limit(raw: str) -> bool:
    """True when a line of the template, each slot taking SLOT_ROOM, could pass SMTP_LINE."""
    for line in raw.split("\r\n"):
        if len(line) > SMTP_LINE - SLOT_ROOM or len(line.encode()) > SMTP_LINE - SLOT_ROOM:
            filled = SLOT_PATTERN.sub("x" * SLOT_ROOM, line)
            if len(filled.encode()) > SMTP_LINE:
                return True
    return False


def feedback_id(campaign_id: int, kind: str) -> str:
    """The Feedback-ID of a bulk campaign's mail (Gmail's feedback loop reports complaints
    per value): campaign id, campaign kind, sender."""
    return f"{campaign_id}:{kind}:{FEEDBACK_SENDER}"


def build_template(
    rendered: RenderedEmail,
    *,
    mail_from: str,
    list_id: str,
    bulk: bool,
    reply_to: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> MessageTemplate:
    """Encode one rendered email into a MessageTemplate with reader slots. Every header
    value goes through ``mailer.email.headers`` (one line of text, folded so it decodes
    to exactly that text)."""
    try:
        message = new_message(
            subject=rendered.subject,
            mail_from=mail_from,
            list_id=list_id,
            bulk=bulk,
            reply_to=reply_to,
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
    text = raw.decode("utf-8")
    pieces = SLOT_PATTERN.split(text)
    return MessageTemplate(
        chunks=tuple(piece.encode("utf-8") for piece in pieces[0::2]),
        slots=tuple(pieces[1::2]),
        long_lines=_may_pass_line_limit(text),
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
    token instead of a reader's: they open a page that says the mail was a test.
    ``send_now`` signs it."""
    marked = RenderedEmail(f"[TEST] {rendered.subject}", rendered.text, rendered.html)
    template = build_template(
        marked,
        mail_from=settings.mail_from,
        list_id=settings.list_id_header,
        bulk=True,
        reply_to=settings.reply_to,
    )
    values = preview_values(settings, to)
    values["message_id"] = f"test.{secrets.token_hex(8)}@{settings.mail_domain}"
    token = make_test_token(settings)
    for page in TEST_LINK_PAGES:
        values[f"{page}_url"] = f"{settings.base_url}/test-link/{page}/{token}"
    return template.fill(values)
