"""Making a built message 7-bit safe: only the parts that need it, decoded the same."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from mailer.email.compose import build_template
from mailer.email.render import RenderedEmail, slot
from mailer.email.transfer import SMTP_LINE, seven_bit

VALUES = {
    "address": "reader@example.org",
    "message_id": "7.abc@r2p.example.org",
    "date": "Wed, 02 Dec 2026 12:00:00 GMT",
    "unsubscribe_url": "https://r2p.example.org/unsubscribe/TOKEN",
}


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def build(text: str, html: str) -> bytes:
    return build_template(
        RenderedEmail("Subject", text, html),
        mail_from="R2P <news@r2p.example.org>",
        list_id="R2P <news.r2p.example.org>",
        bulk=True,
    ).fill(VALUES)


def texts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return (
        plain.get_content().replace("\r\n", "\n"),
        html.get_content().replace("\r\n", "\n"),
    )


def test_8bit_parts_become_quoted_printable_and_read_the_same() -> None:
    original = build("Réunion d'urgence — 平民 🚨\nline two \n", "<p>Réunion — 平民</p>\n")
    assert not original.isascii()
    converted = seven_bit(original)
    assert converted.isascii()
    assert texts(parsed(converted)) == texts(parsed(original))
    # The headers are left exactly as they were.
    assert converted.split(b"\r\n\r\n", 1)[0] == original.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in converted.split(b"\r\n")) <= SMTP_LINE


def test_an_ascii_message_with_short_lines_is_left_as_it_is() -> None:
    original = build("Plain text.\n", "<p>Plain</p>\n")
    assert seven_bit(original) == original


def test_a_url_of_a_thousand_characters_keeps_every_line_under_smtps_limit() -> None:
    """Text lines are never broken inside a URL, so the template sends that part
    quoted-printable: soft line breaks, and the URL whole once decoded."""
    url = "https://example.org/story?" + "&".join(f"p{i}=v{i}" for i in range(200))
    assert len(url) > 1500
    raw = build(f"Read more: {url}\n", f'<p><a href="{url}">Read more</a></p>\n')
    assert max(len(line) for line in raw.split(b"\r\n")) <= SMTP_LINE
    text, html = texts(parsed(raw))
    assert f"Read more: {url}" in text and f'href="{url}"' in html


def test_a_reader_value_too_long_for_the_room_left_makes_that_message_7bit() -> None:
    template = build_template(
        RenderedEmail("Subject", f"Leave: {slot('unsubscribe_url')}\n", "<p>x</p>\n"),
        mail_from="R2P <news@r2p.example.org>",
        list_id="R2P <news.r2p.example.org>",
        bulk=True,
    )
    assert not template.long_lines
    assert template.fill(VALUES).split(b"\r\n\r\n", 1)[1].count(b"quoted-printable") == 0
    long_link = "https://r2p.example.org/unsubscribe/" + "T" * 990
    raw = template.fill(VALUES | {"unsubscribe_url": long_link})
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert b"quoted-printable" in body
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    assert f"Leave: {long_link}" in texts(parsed(raw))[0]
