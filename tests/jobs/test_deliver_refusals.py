"""Refusals at RCPT time go through the same decisions as bounces that come back later:
a 5.7.1 block suppresses nobody, a 5.1.1 bounces the reader at once, each is kept in
mail_reports, and too many policy refusals pause the campaign and tell the admins. And
every message's envelope sender is its own VERP address."""

from __future__ import annotations

from sqlalchemy import select

from mailer.bounces.verp import read_token
from mailer.models import Campaign, MailReport, Subscriber
from tests.conftest import Db
from tests.support.factories import add_admins, add_readers, alert_campaign
from tests.support.ledger import deliveries, drain, smtp_sender
from tests.support.smtpserver import SMTPServer

BLOCKED = (
    "550 5.7.1 Service unavailable, Client host [198.51.100.7] blocked using "
    "Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/"
)


def _reports(db: Db) -> list[MailReport]:
    with db.session() as session:
        return list(session.scalars(select(MailReport).order_by(MailReport.id)))


def test_a_5_7_1_block_at_rcpt_suppresses_nobody(db: Db, smtp_server: SMTPServer) -> None:
    smtp_server.handler.rcpt_rule = lambda rcpt, attempt: (
        BLOCKED if rcpt.endswith("@blocked.example") else "250 OK"
    )
    readers = add_readers(db, ["a@blocked.example", "b@blocked.example", "c@example.net"])
    campaign = alert_campaign(db, readers)
    progress = drain(db, smtp_sender(smtp_server.url), hard_bounce_limit=1)
    assert (progress.sent, progress.failed) == (1, 2)
    with db.session() as session:
        assert {r.status for r in session.scalars(select(Subscriber))} == {"active"}
        assert {r.hard_bounces for r in session.scalars(select(Subscriber))} == {0}
    reports = _reports(db)
    assert [(r.via, r.kind, r.decision, r.status_code) for r in reports] == [
        ("smtp", "bounce", "policy", "5.7.1")
    ] * 2
    assert {r.subscriber_id for r in reports} == set(readers[:2])
    assert {r.campaign_id for r in reports} == {campaign}
    assert reports[0].diagnostic.startswith("550 5.7.1 Service unavailable")


def test_a_5_1_1_at_rcpt_bounces_the_reader_at_once(db: Db, smtp_server: SMTPServer) -> None:
    smtp_server.handler.rcpt_rule = lambda rcpt, attempt: (
        "550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown"
        if rcpt.startswith("gone")
        else "250 OK"
    )
    readers = add_readers(db, ["gone@example.net", "here@example.net"])
    alert_campaign(db, readers)
    drain(db, smtp_sender(smtp_server.url), hard_bounce_limit=3)
    with db.session() as session:
        gone, here = (session.get_one(Subscriber, i) for i in readers)
        assert (gone.status, gone.hard_bounces) == ("bounced", 1)
        assert here.status == "active"
    [report] = _reports(db)
    assert (report.decision, report.status_code, report.recipient) == (
        "hard",
        "5.1.1",
        "gone@example.net",
    )


def test_policy_refusals_past_the_limit_pause_the_campaign_and_email_the_admins(
    db: Db, smtp_server: SMTPServer
) -> None:
    smtp_server.handler.rcpt_rule = lambda rcpt, attempt: (
        BLOCKED if rcpt.endswith("@blocked.example") else "250 OK"
    )
    add_admins(db, "editor@example.org")
    blocked = [f"r{i}@blocked.example" for i in range(5)]
    readers = add_readers(db, blocked)
    campaign = alert_campaign(db, readers)
    settings = db.settings(smtp_url=smtp_server.url, policy_pause_after=3, delivery_batch=1)
    drain(db, smtp_sender(smtp_server.url, connections=1), settings)
    with db.session() as session:
        assert session.get_one(Campaign, campaign).status == "paused"
    statuses = [d.status for d in deliveries(db, campaign)]
    assert statuses.count("failed") == 3 and statuses.count("queued") == 2  # the rest waits
    [notice] = smtp_server.handler.to("editor@example.org")
    assert notice.message["Subject"].startswith("Campaign paused: ")


def test_each_message_leaves_with_its_own_bounce_address(db: Db, smtp_server: SMTPServer) -> None:
    readers = add_readers(db, ["a@example.net", "b@example.net"])
    campaign = alert_campaign(db, readers)
    settings = db.settings(bounce_domain="bounces.example.org")
    drain(db, smtp_sender(smtp_server.url), settings)
    rows = {d.subscriber_id: d.id for d in deliveries(db, campaign)}
    by_reader = {r.rcpt_tos[0]: r.mail_from for r in smtp_server.received}
    for reader, address in zip(readers, ["a@example.net", "b@example.net"], strict=True):
        token = read_token(by_reader[address], "bounces.example.org")
        assert token is not None and token.delivery_id == rows[reader]


def test_without_a_bounce_domain_the_envelope_sender_is_mail_from(
    db: Db, smtp_server: SMTPServer
) -> None:
    alert_campaign(db, add_readers(db, ["a@example.net"]))
    drain(db, smtp_sender(smtp_server.url), mail_from="R2P news <news@example.org>")
    assert [r.mail_from for r in smtp_server.received] == ["news@example.org"]
