"""Bounce and complaint fixtures (tests/data/bounces/, see its README) filled in for a
delivery: its VERP address, Message-ID and reader."""

from __future__ import annotations

from mailer.bounces.verp import bounce_address
from mailer.config import Settings
from mailer.email.compose import message_id_for
from tests.support.paths import DATA

BOUNCES = DATA / "bounces"


def fixture(
    name: str,
    *,
    verp: str = "bounces+0-aaaaaaaaaaaaaaaa@bounces.example.org",
    message_id: str = "1.0000000000000000@example.org",
    recipient: str = "reader@example.net",
    bounce_domain: str = "bounces.example.org",
) -> bytes:
    """The fixture with its placeholders filled in, lines ending in CRLF as on the wire."""
    text = (BOUNCES / name).read_text(encoding="utf-8")
    for placeholder, value in {
        "{{VERP}}": verp,
        "{{MESSAGE_ID}}": message_id,
        "{{RECIPIENT}}": recipient,
        "{{BOUNCE_DOMAIN}}": bounce_domain,
    }.items():
        text = text.replace(placeholder, value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def for_delivery(
    name: str,
    settings: Settings,
    *,
    delivery_id: int,
    campaign_id: int,
    subscriber_id: int,
    recipient: str,
) -> bytes:
    """The fixture as it would come back about this delivery."""
    return fixture(
        name,
        verp=bounce_address(settings, delivery_id, campaign_id, subscriber_id),
        message_id=message_id_for(
            settings.signing_key, settings.mail_domain, delivery_id, campaign_id, subscriber_id
        ),
        recipient=recipient,
        bounce_domain=settings.bounce_domain,
    )
