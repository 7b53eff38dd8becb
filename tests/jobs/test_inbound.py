"""The inbound receiver over real SMTP and LMTP on loopback: only the bounce domain, no
relaying, a size cap, one reply per LMTP recipient, and a report stored before its 250."""

from __future__ import annotations

import smtplib
import socket
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jobs.inbound import InboundHandler
from mailer.errors import ConfigError
from mailer.models import Campaign, MailReport, Subscriber
from subscribers.reports import Taken
from tests.conftest import Db, make_settings
from tests.support.bounces import for_delivery
from tests.support.factories import add_admins, add_readers, alert_campaign
from tests.support.inbound import receiving
from tests.support.ledger import deliveries
from tests.support.smtpserver import SMTPServer
from tests.support.waiting import wait_until

DOMAIN = "bounces.example.org"


def _reports(db: Db) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(MailReport)) or 0)


def test_without_a_bounce_domain_it_will_not_start(tmp_path: Path, db: Db) -> None:
    with pytest.raises(ConfigError, match="R2P_BOUNCE_DOMAIN"):
        InboundHandler(make_settings(tmp_path), db.factory)


def test_it_refuses_other_domains_and_takes_a_bounce_for_its_own(db: Db) -> None:
    settings = db.settings(bounce_domain=DOMAIN)
    [delivery] = deliveries(db, alert_campaign(db, add_readers(db, ["gone@example.net"])))
    taken: list[Taken] = []
    handler = InboundHandler(settings, db.factory, on_taken=taken.append)
    data = for_delivery(
        "postfix-5.1.1.eml",
        settings,
        delivery_id=delivery.id,
        campaign_id=delivery.campaign_id,
        subscriber_id=delivery.subscriber_id,
        recipient="gone@example.net",
    )
    with receiving(handler) as port, smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo("relay.example.org")
        smtp.mail("<>")
        code, reply = smtp.rcpt("someone@example.com")
        assert (code, reply[:5]) == (550, b"5.7.1")  # no relaying
        code, _ = smtp.rcpt(f"postmaster@{DOMAIN}.evil.example")
        assert code == 550
        smtp.rset()
        verp = f"bounces+whatever@{DOMAIN.upper()}"
        refused = smtp.sendmail("<>", [verp], data)
        assert refused == {}
    assert len(taken) == 1 and taken[0].decisions == ["hard"]
    with db.session() as session:
        assert session.get_one(Subscriber, delivery.subscriber_id).status == "bounced"


def test_a_message_over_the_size_cap_is_refused_and_not_stored(db: Db) -> None:
    settings = db.settings(bounce_domain=DOMAIN, inbound_max_bytes=10_000)
    handler = InboundHandler(settings, db.factory)
    with receiving(handler) as port, smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPException) as refused:
            smtp.sendmail("<>", [f"x@{DOMAIN}"], b"Subject: big\r\n\r\n" + b"x" * 20_000)
        assert "552" in str(refused.value)
    assert _reports(db) == 0


def test_lmtp_answers_once_per_recipient(db: Db) -> None:
    """LMTP (RFC 2033) wants one reply per recipient after the data (smtplib's LMTP
    client reads only one, so the conversation is spoken here line by line)."""
    settings = db.settings(bounce_domain=DOMAIN)
    handler = InboundHandler(settings, db.factory, lmtp=True)
    with receiving(handler) as port, socket.create_connection(("127.0.0.1", port), 10) as conn:
        stream = conn.makefile("rwb")

        def reply() -> bytes:
            line = stream.readline()
            while line[3:4] == b"-":
                line = stream.readline()
            return line

        def say(line: bytes) -> bytes:
            stream.write(line + b"\r\n")
            stream.flush()
            return reply()

        assert reply().startswith(b"220")
        assert say(b"EHLO relay.example.org").startswith(b"500")  # LMTP speaks LHLO
        assert say(b"LHLO relay.example.org").startswith(b"250")
        assert say(b"MAIL FROM:<>").startswith(b"250")
        assert say(f"RCPT TO:<a@{DOMAIN}>".encode()).startswith(b"250")
        assert say(f"RCPT TO:<b@{DOMAIN}>".encode()).startswith(b"250")
        assert say(b"DATA").startswith(b"354")
        stream.write(b"Subject: hello\r\n\r\nNot a report.\r\n.\r\n")
        stream.flush()
        assert [reply()[:3], reply()[:3]] == [b"250", b"250"]
        assert say(b"NOOP").startswith(b"250")  # nothing left unread: still in step
        assert say(b"QUIT").startswith(b"221")
    assert _reports(db) == 1  # one message, one (unparsed) report


def test_a_report_that_cannot_be_stored_is_refused_for_a_retry(db: Db) -> None:
    settings = db.settings(bounce_domain=DOMAIN)
    handler = InboundHandler(settings, db.factory)

    def broken(data: bytes, recipients: list[str]) -> Taken:
        raise RuntimeError("database gone")

    handler._take = broken  # type: ignore[method-assign]
    with receiving(handler) as port, smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("<>", [f"x@{DOMAIN}"], b"Subject: x\r\n\r\nbody\r\n")
        assert refused.value.smtp_code == 451


def test_policy_refusals_past_the_limit_pause_the_campaign_and_tell_the_admins(
    db: Db, smtp_server: SMTPServer
) -> None:
    add_admins(db, "editor@example.org")
    settings = db.settings(bounce_domain=DOMAIN, policy_pause_after=2, smtp_url=smtp_server.url)
    readers = add_readers(db, [f"r{i}@example.net" for i in range(3)])
    campaign = alert_campaign(db, readers)
    rows = deliveries(db, campaign)
    handler = InboundHandler(settings, db.factory)
    with receiving(handler) as port, smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for row in rows[:2]:
            data = for_delivery(
                "postfix-outlook-5.7.1-blocklist.eml",
                settings,
                delivery_id=row.id,
                campaign_id=campaign,
                subscriber_id=row.subscriber_id,
                recipient=f"r{row.subscriber_id - 1}@example.net",
            )
            smtp.sendmail("<>", [f"bounces@{DOMAIN}"], data)
        wait_until(lambda: smtp_server.handler.to("editor@example.org"), 30, message="a notice")
    with db.session() as session:
        assert session.get_one(Campaign, campaign).status == "paused"
        assert {s.status for s in session.scalars(select(Subscriber))} == {"active"}
    [notice] = smtp_server.handler.to("editor@example.org")
    assert notice.message["Subject"].startswith("Campaign paused: ")
    assert "2 of its messages were refused for policy" in notice.message.get_content()
