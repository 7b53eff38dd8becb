"""Bounce and complaint fixtures (tests/data/bounces/, see its README) filled in for a
delivery: its VERP address, Message-ID and reader; and what a report did (the reports
recorded, a reader's status, a webhook event landed on its delivery)."""

from __future__ import annotations

from sqlalchemy import select

from mailer.bounces.verp import bounce_address
from mailer.config import Settings
from mailer.email.compose import message_id_for
from mailer.models import Delivery, MailReport, Subscriber
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries
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


def mail_reports(db: Db) -> list[MailReport]:
    """Every report recorded, oldest first."""
    with db.session() as session:
        return list(session.scalars(select(MailReport).order_by(MailReport.id)))


def reader_status(db: Db, subscriber_id: int) -> str:
    with db.session() as session:
        return session.get_one(Subscriber, subscriber_id).status


def first_delivery(db: Db) -> Delivery:
    """The delivery of an alert to reader0@example.net (reader1 gets the other)."""
    ids = add_readers(db, ["reader0@example.net", "reader1@example.net"])
    return deliveries(db, alert_campaign(db, ids))[0]


def assert_landed(
    db: Db, delivery: Delivery, via: str, expected: tuple[str, str, str, str]
) -> None:
    """One report was recorded, on ``delivery``, with ``expected`` = (kind, decision,
    status code, the reader's status after it); the other reader is untouched."""
    kind, decision, status_code, reader_after = expected
    [report] = mail_reports(db)
    assert (report.via, report.kind, report.decision) == (via, kind, decision)
    assert report.status_code == status_code
    assert (report.delivery_id, report.subscriber_id) == (delivery.id, delivery.subscriber_id)
    assert reader_status(db, delivery.subscriber_id) == reader_after
    assert reader_status(db, delivery.subscriber_id + 1) == "active"
