"""Reports taken in: each real-shaped DSN and complaint lands on its delivery and reader
with the right decision; a 5.7.1 block suppresses nobody; a complaint unsubscribes;
forged tokens and unreadable mail change nobody, and nothing is dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailer.models import AuditEntry, ConsentEvent, Delivery, Subscriber
from subscribers.gdpr import erase
from subscribers.reports import take_report
from tests.conftest import Db
from tests.support.bounces import fixture, for_delivery, mail_reports, reader_status
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries

DOMAIN = "bounces.example.org"


def _setup(db: Db, count: int = 2, **reader: object) -> list[Delivery]:
    ids = add_readers(db, [f"reader{i}@example.net" for i in range(count)], **reader)
    return deliveries(db, alert_campaign(db, ids))


def _take(db: Db, data: bytes, *, to: str = f"bounces@{DOMAIN}") -> None:
    settings = db.settings(bounce_domain=DOMAIN)
    with db.session() as session:
        take_report(
            data,
            via="inbound",
            envelope_to=[to],
            settings=settings,
            now=datetime.now(UTC),
            session=session,
        )
        session.commit()


def _about(db: Db, delivery: Delivery, name: str) -> bytes:
    return for_delivery(
        name,
        db.settings(bounce_domain=DOMAIN),
        delivery_id=delivery.id,
        campaign_id=delivery.campaign_id,
        subscriber_id=delivery.subscriber_id,
        recipient=f"reader{delivery.subscriber_id - 1}@example.net",
    )


@pytest.mark.parametrize(
    ("name", "kind", "decision", "status_code", "reader_after"),
    [
        ("postfix-5.1.1.eml", "bounce", "hard", "5.1.1", "bounced"),
        ("exim-5.1.1.eml", "bounce", "hard", "5.1.1", "bounced"),
        ("gmail-5.1.1.eml", "bounce", "hard", "5.1.1", "bounced"),
        ("microsoft-5.1.10.eml", "bounce", "hard", "5.1.10", "bounced"),
        ("yahoo-554-no-account.eml", "bounce", "hard", "554", "bounced"),
        ("postfix-outlook-5.7.1-blocklist.eml", "bounce", "policy", "5.7.1", "active"),
        ("postfix-yahoo-4.7.0-delayed.eml", "delay", "soft", "4.7.0", "active"),
        ("microsoft-5.2.2-mailbox-full.eml", "bounce", "soft", "5.2.2", "active"),
        ("yahoo-arf-complaint.eml", "complaint", "complaint", "", "complained"),
        ("microsoft-jmrp-complaint.eml", "complaint", "complaint", "", "complained"),
    ],
)
def test_each_report_lands_on_its_delivery_and_reader(
    db: Db, name: str, kind: str, decision: str, status_code: str, reader_after: str
) -> None:
    target, other = _setup(db)
    _take(db, _about(db, target, name))
    [report] = mail_reports(db)
    assert (report.kind, report.decision, report.status_code) == (kind, decision, status_code)
    assert (report.delivery_id, report.campaign_id, report.subscriber_id) == (
        target.id,
        target.campaign_id,
        target.subscriber_id,
    )
    assert report.via == "inbound" and report.raw.startswith(("Return-Path", "Return-path"))
    assert reader_status(db, target.subscriber_id) == reader_after
    assert reader_status(db, other.subscriber_id) == "active"


def test_the_report_reaches_its_delivery_by_the_address_it_was_sent_to(db: Db) -> None:
    """A report whose copy of our message lost its headers still names the delivery by
    the VERP address it was delivered to."""
    [target] = _setup(db, 1)
    settings = db.settings(bounce_domain=DOMAIN)
    from mailer.bounces.verp import bounce_address

    verp = bounce_address(settings, target.id, target.campaign_id, target.subscriber_id)
    data = fixture("postfix-5.1.1.eml", verp="someone@example.com", message_id="x@y")
    _take(db, data, to=verp)
    [report] = mail_reports(db)
    assert report.delivery_id == target.id and report.decision == "hard"


def test_a_5_2_2_suppresses_only_when_repeated(db: Db) -> None:
    first, second = _setup(db, 2)
    # Two deliveries to the same reader: two campaigns.
    again = deliveries(db, alert_campaign(db, [first.subscriber_id], key="alert:again"))[0]
    _take(db, _about(db, first, "microsoft-5.2.2-mailbox-full.eml"))
    assert reader_status(db, first.subscriber_id) == "active"
    _take(db, _about(db, first, "microsoft-5.2.2-mailbox-full.eml"))  # the same report again
    assert reader_status(db, first.subscriber_id) == "active"
    assert len(mail_reports(db)) == 1
    data = _about(db, again, "microsoft-5.2.2-mailbox-full.eml").replace(
        b"a0xtAEHLB0000d09e", b"a0xtAEHLB0000d09f"
    )
    _take(db, data)
    assert reader_status(db, first.subscriber_id) == "bounced"
    assert [r.decision for r in mail_reports(db)] == ["soft", "hard"]
    assert reader_status(db, second.subscriber_id) == "active"


def test_a_complaint_unsubscribes_at_once_withdraws_consent_and_is_audited(db: Db) -> None:
    target, _ = _setup(db)
    later = deliveries(db, alert_campaign(db, [target.subscriber_id], key="alert:later"))[0]
    _take(db, _about(db, target, "yahoo-arf-complaint.eml"))
    with db.session() as session:
        reader = session.get_one(Subscriber, target.subscriber_id)
        assert reader.status == "complained" and reader.unsubscribed_at is not None
        events = session.scalars(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == reader.id)
        ).all()
        assert [(e.event, e.form) for e in events] == [("withdrawn", "complaint-inbound")]
        [entry] = session.scalars(select(AuditEntry)).all()
        assert (entry.actor, entry.action, entry.target) == (
            "system:bounces",
            "subscriber.complaint",
            f"subscriber:{reader.id}",
        )
        assert entry.detail["feedback_type"] == "abuse"
        assert session.get_one(Delivery, later.id).status == "cancelled"


def test_a_bounce_does_not_turn_an_unsubscribed_reader_into_a_bounced_one(db: Db) -> None:
    [target] = _setup(db, 1, status="unsubscribed")
    _take(db, _about(db, target, "postfix-5.1.1.eml"))
    assert reader_status(db, target.subscriber_id) == "unsubscribed"
    assert mail_reports(db)[0].decision == "hard"


@pytest.mark.parametrize("name", ["postfix-5.1.1.eml", "yahoo-arf-complaint.eml"])
def test_a_forged_token_changes_nobody_and_is_kept_as_ignored(db: Db, name: str) -> None:
    target, _ = _setup(db)
    forged = f"bounces+{target.id:x}-aaaaaaaaaaaaaaaa@{DOMAIN}"
    data = fixture(name, verp=forged, message_id=f"{target.id}.0000000000000000@localhost")
    _take(db, data, to=forged)
    [report] = mail_reports(db)
    assert report.decision == "ignored" and report.subscriber_id is None
    assert report.delivery_id is None and report.raw
    assert reader_status(db, target.subscriber_id) == "active"


def test_auto_replies_are_ignored_and_unparsed_mail_is_kept(db: Db) -> None:
    target, _ = _setup(db)
    _take(db, _about(db, target, "auto-reply-rfc3834.eml"))
    _take(db, _about(db, target, "unparsable.eml"))
    auto, unparsed = mail_reports(db)
    assert (auto.kind, auto.decision) == ("auto_reply", "ignored")
    assert (unparsed.kind, unparsed.decision) == ("unparsed", "unknown")
    assert unparsed.diagnostic == "not a report we know"
    assert '<script>alert("x")</script>' in unparsed.raw
    assert reader_status(db, target.subscriber_id) == "active"


def test_erasing_a_reader_strips_them_from_the_reports(db: Db) -> None:
    target, other = _setup(db)
    _take(db, _about(db, target, "postfix-outlook-5.7.1-blocklist.eml"))
    _take(db, _about(db, other, "postfix-5.1.1.eml"))
    with db.session() as session:
        erase(
            session.get_one(Subscriber, target.subscriber_id),
            now=datetime.now(UTC),
            session=session,
        )
        session.commit()
    kept, untouched = mail_reports(db)
    assert (kept.kind, kept.decision, kept.status_code) == ("bounce", "policy", "5.7.1")
    assert kept.campaign_id == target.campaign_id  # campaign reports still count it
    assert kept.subscriber_id is None and kept.recipient == "" and kept.raw == ""
    assert "reader0@example.net" not in kept.diagnostic
    assert untouched.recipient == "reader1@example.net" and untouched.raw
