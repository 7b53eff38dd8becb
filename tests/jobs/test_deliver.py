"""The delivery engine against a real SMTP server on loopback: once, and only after a 250."""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from jobs.deliver import DeliveryWorker
from mailer.models import Campaign, MailReport, Subscriber
from mailer.outbox import campaigns, ledger
from mailer.outbox.ledger import claim, settle
from mailer.outbox.status import Priority
from mailer.sending import make_sender
from mailer.sending.base import SendResult
from mailer.sending.memory import MemorySender
from mailer.sending.smtp import RateLimiter, SMTPPool, parse_smtp_url
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import campaign_status, deliveries, drain, make_due, smtp_sender
from tests.support.smtpserver import SMTPServer
from tests.support.waiting import wait_until


def test_it_sends_each_reader_one_message_after_a_250(db: Db, smtp_server: SMTPServer) -> None:
    ids = add_readers(db, [f"reader{i}@example.org" for i in range(5)])
    campaign = alert_campaign(db, ids)
    progress = drain(db, smtp_sender(smtp_server.url))
    assert progress.sent == 5
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(
        f"reader{i}@example.org" for i in range(5)
    )
    rows = deliveries(db, campaign)
    assert {row.status for row in rows} == {"sent"}
    for row in rows:
        assert row.last_reply.startswith("250") and row.sent_at is not None
        assert row.message_id.startswith("<") and row.message_id.endswith("@localhost>")
    assert campaign_status(db, campaign) == "done"
    message = smtp_server.received[0].message
    assert message["Message-ID"] in {row.message_id for row in rows}


def test_the_first_message_on_a_connection_declares_its_size_and_8bit_body(
    db: Db, smtp_server: SMTPServer
) -> None:
    """Even the first message of a connection says BODY=8BITMIME (its body is 8-bit
    UTF-8) and its SIZE, as the server offers both (EHLO happens at connect)."""
    ids = add_readers(db, [f"reader{i}@example.org" for i in range(3)])
    alert_campaign(db, ids)
    drain(db, smtp_sender(smtp_server.url, connections=1))
    assert len(smtp_server.received) == 3
    for received in smtp_server.received:
        assert "BODY=8BITMIME" in received.mail_options, received.mail_options
        assert any(option.startswith("SIZE=") for option in received.mail_options)


def test_every_message_is_multipart_with_one_click_unsubscribe(
    db: Db, smtp_server: SMTPServer
) -> None:
    add = add_readers(db, ["reader@example.org"])
    alert_campaign(db, add)
    drain(db, smtp_sender(smtp_server.url), base_url="https://r2p.example.org")
    message = smtp_server.received[0].message
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://r2p.example.org/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Precedence"] == "bulk" and message["Auto-Submitted"] == "auto-generated"
    assert message["List-Id"] == "R2P news <news.localhost>"
    assert message["To"] == "reader@example.org"
    url = unsubscribe.strip("<>")
    assert url in text.get_content() and url in html.get_content()
    assert "https://r2p.example.org/preferences/" in html.get_content()


def test_it_retries_on_4xx_and_then_delivers(db: Db, smtp_server: SMTPServer) -> None:
    smtp_server.handler.rcpt_rule = lambda rcpt, attempt: (
        "451 4.7.1 Greylisted, try later" if attempt == 1 else "250 OK"
    )
    campaign = alert_campaign(db, add_readers(db, ["grey@example.org", "other@example.org"]))
    first = drain(db, smtp_sender(smtp_server.url))
    assert (first.sent, first.retry) == (0, 2)
    rows = deliveries(db, campaign)
    assert all(row.status == "queued" and row.last_reply.startswith("451") for row in rows)
    assert all(row.next_attempt_at > datetime.now(UTC) for row in rows)
    assert drain(db, smtp_sender(smtp_server.url)).sent == 0  # not due yet
    make_due(db)
    assert drain(db, smtp_sender(smtp_server.url)).sent == 2
    assert all(r.status == "sent" and r.attempts == 2 for r in deliveries(db, campaign))
    assert len(smtp_server.received) == 2


def test_a_550_fails_one_reader_among_many_and_suppresses_them(
    db: Db, smtp_server: SMTPServer
) -> None:
    smtp_server.handler.rcpt_rule = lambda rcpt, attempt: (
        "550 5.1.1 No such user" if rcpt.startswith("gone") else "250 OK"
    )
    readers = [f"reader{i}@example.org" for i in range(6)] + ["gone@example.org"]
    campaign = alert_campaign(db, add_readers(db, readers))
    progress = drain(db, smtp_sender(smtp_server.url), hard_bounce_limit=1)
    assert (progress.sent, progress.failed) == (6, 1)
    failed = [row for row in deliveries(db, campaign) if row.status == "failed"]
    assert len(failed) == 1 and failed[0].last_reply.startswith("550")
    with db.session() as session:
        gone = session.scalar(select(Subscriber).where(Subscriber.email == "gone@example.org"))
        assert gone is not None and gone.status == "bounced" and gone.hard_bounces == 1
    assert campaign_status(db, campaign) == "done"


def test_a_connection_dropped_mid_data_is_retried_not_counted_as_sent(
    db: Db, smtp_server: SMTPServer
) -> None:
    smtp_server.handler.data_rule = lambda rcpt, attempt: (
        "drop" if rcpt == "flaky@example.org" and attempt == 1 else "250 OK"
    )
    readers = ["a@example.org", "flaky@example.org", "b@example.org", "c@example.org"]
    campaign = alert_campaign(db, add_readers(db, readers))
    first = drain(db, smtp_sender(smtp_server.url, connections=1))
    assert first.retry == 1 and first.sent == 3
    flaky = next(r for r in deliveries(db, campaign) if r.status == "queued")
    assert "connection lost" in flaky.last_reply
    make_due(db)
    assert drain(db, smtp_sender(smtp_server.url)).sent == 1
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(readers)


def test_a_server_that_is_down_for_a_while_gets_the_mail_when_it_returns(db: Db) -> None:
    server = SMTPServer()
    port = server.port = __import__("tests.support.smtpserver", fromlist=["x"])._free_port()
    campaign = alert_campaign(db, add_readers(db, ["a@example.org", "b@example.org"]))
    down = drain(db, smtp_sender(f"smtp://127.0.0.1:{port}"))
    assert down.retry == 2 and down.sent == 0
    assert all("cannot connect" in r.last_reply for r in deliveries(db, campaign))
    with server:
        make_due(db)
        assert drain(db, smtp_sender(f"smtp://127.0.0.1:{port}")).sent == 2
        assert len(server.received) == 2


def test_retries_stop_at_the_deadline(db: Db, smtp_server: SMTPServer) -> None:
    smtp_server.handler.rcpt_rule = lambda rcpt, attempt: "421 4.3.2 System shutting down"
    campaign = alert_campaign(db, add_readers(db, ["a@example.org"]), deadline=timedelta(0))
    assert drain(db, smtp_sender(smtp_server.url)).failed == 1
    row = deliveries(db, campaign)[0]
    assert row.status == "failed" and row.last_reply.startswith("gave up after 1 attempts: 421")


def test_an_expired_lease_returns_rows_and_the_loser_cannot_settle(db: Db) -> None:
    alert_campaign(db, add_readers(db, ["a@example.org", "b@example.org"]))
    now = datetime.now(UTC)
    lease = timedelta(seconds=60)
    with db.session() as session:
        first = claim(worker="w1", limit=10, lease=lease, now=now, session=session)
        session.commit()
    assert len(first) == 2
    with db.session() as session:
        assert claim(worker="w2", limit=10, lease=lease, now=now, session=session) == []
        later = now + lease + timedelta(seconds=1)
        second = claim(worker="w2", limit=10, lease=lease, now=later, session=session)
        session.commit()
    assert {c.id for c in second} == {c.id for c in first}
    with db.session() as session:
        ok = SendResult("sent", 250, "OK")
        settle(
            [ledger.Settled(first[0], ok, "<late@x>")],
            worker="w1",
            now=later,
            hard_bounce_limit=2,
            session=session,
        )
        session.commit()
    row = next(r for r in deliveries(db) if r.id == first[0].id)
    assert row.status == "sending" and row.claimed_by == "w2" and row.message_id == ""


def test_pause_resume_and_cancel_never_resend(db: Db, smtp_server: SMTPServer) -> None:
    readers = add_readers(db, [f"r{i}@example.org" for i in range(4)])
    campaign_id = alert_campaign(db, readers[:2])
    drain(db, smtp_sender(smtp_server.url))
    with db.session() as session:
        campaign = session.get_one(Campaign, campaign_id)
        campaign.status = "sending"  # reopen to add two more readers, as a late enqueue would
        ledger.enqueue(
            campaign,
            [(i, "en") for i in readers],
            now=datetime.now(UTC),
            deadline_at=datetime.now(UTC) + timedelta(days=1),
            session=session,
        )
        campaigns.pause(campaign, session=session)
        session.commit()
    assert drain(db, smtp_sender(smtp_server.url)).sent == 0
    with db.session() as session:
        campaigns.resume(session.get_one(Campaign, campaign_id), session=session)
        session.commit()
    assert drain(db, smtp_sender(smtp_server.url)).sent == 2
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(
        f"r{i}@example.org" for i in range(4)
    )
    other = alert_campaign(db, readers, key="alert:cancelled")
    with db.session() as session:
        assert (
            campaigns.cancel(
                session.get_one(Campaign, other), now=datetime.now(UTC), session=session
            )
            == 4
        )
        session.commit()
    assert drain(db, smtp_sender(smtp_server.url)).sent == 0
    assert {r.status for r in deliveries(db, other)} == {"cancelled"}
    with db.session() as session, pytest.raises(campaigns.CampaignStateError):
        campaigns.cancel(session.get_one(Campaign, other), now=datetime.now(UTC), session=session)


def test_enqueueing_twice_adds_nothing(db: Db) -> None:
    readers = add_readers(db, ["a@example.org", "b@example.org"])
    campaign_id = alert_campaign(db, readers)
    with db.session() as session:
        campaign = session.get_one(Campaign, campaign_id)
        added = ledger.enqueue(
            campaign,
            [(i, "en") for i in readers],
            now=datetime.now(UTC),
            deadline_at=datetime.now(UTC),
            session=session,
        )
        session.commit()
    assert added == 0 and len(deliveries(db, campaign_id)) == 2


def test_alerts_are_claimed_before_digest_traffic(db: Db) -> None:
    readers = add_readers(db, [f"r{i}@example.org" for i in range(6)])
    digest = alert_campaign(db, readers, key="digest:test", priority=Priority.DIGEST)
    alert = alert_campaign(db, readers[:2], key="alert:urgent")
    with db.session() as session:
        batch = claim(
            worker="w", limit=2, lease=timedelta(minutes=5), now=datetime.now(UTC), session=session
        )
    assert {c.campaign_id for c in batch} == {alert} and digest != alert


def test_an_expired_alert_is_cancelled_never_sent_late(db: Db, smtp_server: SMTPServer) -> None:
    campaign = alert_campaign(db, add_readers(db, ["a@example.org"]), expires_in=timedelta(hours=1))
    with db.session() as session:  # the hour passes before any worker got to it
        session.get_one(Campaign, campaign).expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    assert drain(db, smtp_sender(smtp_server.url)).sent == 0
    with db.session() as session:
        report = campaigns.expire_campaigns(now=datetime.now(UTC), session=session)
        session.commit()
    assert report == {"alert:test": 1}
    assert deliveries(db, campaign)[0].status == "cancelled"
    assert campaign_status(db, campaign) == "expired"
    assert smtp_server.received == []


def test_a_reader_who_unsubscribed_after_queueing_gets_nothing(
    db: Db, smtp_server: SMTPServer
) -> None:
    readers = add_readers(db, ["stay@example.org", "left@example.org"])
    campaign = alert_campaign(db, readers)
    with db.session() as session:
        session.get_one(Subscriber, readers[1]).status = "unsubscribed"
        session.commit()
    assert drain(db, smtp_sender(smtp_server.url)).sent == 1
    assert [r.rcpt_tos[0] for r in smtp_server.received] == ["stay@example.org"]
    statuses = {r.subscriber_id: r.status for r in deliveries(db, campaign)}
    assert statuses == {readers[0]: "sent", readers[1]: "cancelled"}
    assert campaign_status(db, campaign) == "done"


def test_without_smtp_mail_goes_to_the_maildir(db: Db) -> None:
    settings = db.settings()
    alert_campaign(db, add_readers(db, ["a@example.org", "b@example.org"]))
    drain(db, make_sender(settings), settings)
    stored = list((settings.mail_dir / "new").iterdir())
    assert len(stored) == 2
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in stored[0].read_bytes()


def test_the_rate_limit_spaces_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("mailer.sending.smtp.time.monotonic", lambda: 100.0)
    monkeypatch.setattr("mailer.sending.smtp.asyncio.sleep", record)
    limiter = RateLimiter(rate=10)

    async def five() -> None:
        for _ in range(5):
            await limiter.acquire()

    asyncio.run(five())
    assert [round(w, 3) for w in waits] == [0.1, 0.2, 0.3, 0.4]
    assert RateLimiter(rate=0).interval == 0


def test_header_text_from_feeds_cannot_inject_headers(db: Db, smtp_server: SMTPServer) -> None:
    alert_campaign(
        db, add_readers(db, ["a@example.org"]), subject="Sudan\r\nBcc: victim@example.org\x00\x1b"
    )
    drain(db, smtp_sender(smtp_server.url))
    received = smtp_server.received[0]
    assert received.rcpt_tos == ["a@example.org"]
    assert received.message["Bcc"] is None
    assert received.message["Subject"] == "Urgent: Sudan Bcc: victim@example.org"


def test_a_long_batch_is_settled_as_it_goes_and_keeps_its_lease(
    db: Db, smtp_server: SMTPServer
) -> None:
    campaign = alert_campaign(db, add_readers(db, [f"r{i}@example.org" for i in range(30)]))
    settings = db.settings(smtp_rate=10, lease_seconds=5, delivery_batch=100)
    seen: dict[str, int] = {}
    leases: list[datetime] = []

    async def scenario() -> None:
        pool = SMTPPool(parse_smtp_url(smtp_server.url), connections=2, rate=10)
        task = asyncio.create_task(DeliveryWorker(settings, db.factory, pool).run(once=True))
        claimed_at = datetime.now(UTC)

        claimed: list[datetime] = []  # the lease the claim gave, the first one seen

        def renewed_mid_batch() -> bool:
            """Look at the rows; true once their leases were renewed (a third of the lease,
            1.7 s, after the claim) or when the batch is over."""
            rows = deliveries(db, campaign)
            seen.clear()
            seen.update(collections.Counter(d.status for d in rows))
            leases[:] = [d.lease_until for d in rows if d.status == "sending" and d.lease_until]
            if leases and not claimed:
                claimed.append(min(leases))
            renewed = bool(leases) and min(leases) > claimed[0] + timedelta(seconds=1)
            return renewed or task.done()

        await asyncio.to_thread(wait_until, renewed_mid_batch, 30, message="a lease renewal")
        await task
        leases.append(claimed_at)

    asyncio.run(scenario())
    assert seen.get("sent", 0) > 0 and seen.get("sending", 0) > 0  # settled mid-batch
    claimed_at = leases.pop()
    assert all(lease > claimed_at + timedelta(seconds=5) for lease in leases)  # renewed
    assert {d.status for d in deliveries(db, campaign)} == {"sent"}


def test_a_refusal_of_the_content_does_not_count_against_the_address(
    db: Db, smtp_server: SMTPServer
) -> None:
    smtp_server.handler.data_rule = lambda rcpt, attempt: "550 5.7.1 Message rejected as spam"
    reader = add_readers(db, ["a@example.org"])
    campaign = alert_campaign(db, reader)
    assert drain(db, smtp_sender(smtp_server.url), hard_bounce_limit=1).failed == 1
    assert deliveries(db, campaign)[0].last_reply.startswith("550 5.7.1")
    with db.session() as session:
        subscriber = session.get_one(Subscriber, reader[0])
        assert subscriber.status == "active" and subscriber.hard_bounces == 0


def test_a_batch_that_cannot_be_built_is_given_back_untouched(db: Db) -> None:
    campaign = alert_campaign(db, add_readers(db, ["a@example.org", "b@example.org"]))
    with db.session() as session:
        session.get_one(Campaign, campaign).template = "no-such-template"
        session.commit()
    with pytest.raises(Exception, match="no-such-template"):
        drain(db, MemorySender())
    rows = deliveries(db, campaign)
    assert {d.status for d in rows} == {"queued"} and {d.attempts for d in rows} == {0}


def test_a_retry_for_a_cancelled_campaign_is_cancelled_not_queued(db: Db) -> None:
    campaign_id = alert_campaign(db, add_readers(db, ["a@example.org"]))
    now = datetime.now(UTC)
    with db.session() as session:
        [held] = claim(worker="w", limit=5, lease=timedelta(minutes=5), now=now, session=session)
        campaigns.cancel(session.get_one(Campaign, campaign_id), now=now, session=session)
        settle(
            [ledger.Settled(held, SendResult("retry", 451, "try later"), "")],
            worker="w",
            now=now,
            hard_bounce_limit=2,
            session=session,
        )
        session.commit()
    assert deliveries(db, campaign_id)[0].status == "cancelled"


def test_a_hard_bounce_recorded_twice_counts_once(db: Db) -> None:
    """A settle retried after its first commit did happen (the connection was lost while
    the commit went through), or a late worker's settle, must not count a bounce again."""
    readers = add_readers(db, ["gone@example.org"])
    alert_campaign(db, readers)
    now = datetime.now(UTC)
    with db.session() as session:
        [claimed] = claim(
            worker="w1", limit=10, lease=timedelta(seconds=30), now=now, session=session
        )
        session.commit()
    refused = SendResult("failed", 552, "5.2.2 mailbox full", address_refused=True)
    for _ in range(2):
        with db.session() as session:
            settle(
                [ledger.Settled(claimed, refused, "")],
                worker="w1",
                now=now,
                hard_bounce_limit=2,
                session=session,
            )
            session.commit()
    with db.session() as session:
        reader = session.get_one(Subscriber, readers[0])
        assert reader.hard_bounces == 1 and reader.status == "active"
        assert session.scalar(select(func.count()).select_from(MailReport)) == 1
