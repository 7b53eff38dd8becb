"""Urgent mail overtakes a digest between messages; a delivery keeps one Message-ID across
attempts and gets a fresh Date at each; the DATA fast path stuffs dots over real SMTP."""

from __future__ import annotations

import asyncio
import collections
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest

from jobs.deliver import DeliveryWorker
from mailer.email.compose import message_id_for
from mailer.models import Campaign
from mailer.outbox.campaigns import start
from mailer.outbox.status import Priority
from mailer.sending.base import SendResult
from mailer.sending.smtp import data_payload
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import PacedSender, deliveries, drain, make_due, smtp_sender
from tests.support.smtpserver import SMTPServer


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.parametrize("woken", [True, False], ids=["same-process", "other-process"])
def test_an_alert_approved_mid_batch_is_sent_before_the_rest_of_that_batch(
    db: Db, woken: bool
) -> None:
    digest_readers = add_readers(db, [f"digest{i:04d}@example.org" for i in range(1000)])
    digest = alert_campaign(
        db, digest_readers, key="digest:2026-W49", subject="Weekly", priority=Priority.DIGEST
    )
    urgent = alert_campaign(
        db, add_readers(db, ["urgent1@example.org", "urgent2@example.org"]), approve=False
    )
    holder: list[DeliveryWorker] = []

    def approve_at_20th(count: int) -> None:
        if count != 20:
            return
        with db.session() as session:  # what the console does: approve, commit, wake
            start(session.get_one(Campaign, urgent), by="a", now=datetime.now(UTC), session=session)
            session.commit()
        if woken:
            holder[0].wake()

    sender = PacedSender(approve_at_20th)
    worker = DeliveryWorker(db.settings(delivery_batch=1000), db.factory, sender)
    holder.append(worker)
    progress = asyncio.run(worker.run(once=True))

    first_urgent = sender.sent.index("urgent1@example.org")
    # The whole digest was one claimed batch; without preemption the alert would be 1001st.
    assert 20 < first_urgent < 20 + 250, first_urgent
    assert len(sender.sent) - first_urgent > 500  # most of that batch waited for the alert
    counts = collections.Counter(sender.sent)
    assert len(counts) == 1002 and set(counts.values()) == {1}  # none lost, none twice
    assert progress.released == 0  # the alert went ahead; the batch was kept, not given back
    assert {d.status for d in deliveries(db, digest)} == {"sent"}
    released = [d for d in deliveries(db, digest) if d.attempts != 1]
    assert released == []  # setting a row aside did not count as an attempt


class FlakySender:
    """Greylists every first attempt, accepts the second; keeps every message."""

    concurrency = 1

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        self.messages.append(message)
        if len(self.messages) == 1:
            return SendResult("retry", 451, "4.7.1 greylisted")
        return SendResult("sent", 250, "2.0.0 queued")

    async def aclose(self) -> None:
        return None


def test_a_retry_keeps_its_message_id_and_gets_a_fresh_date(db: Db) -> None:
    campaign = alert_campaign(db, add_readers(db, ["grey@example.org"]))
    clock = [datetime(2026, 12, 2, 9, 0, tzinfo=UTC)]
    sender = FlakySender()
    worker = DeliveryWorker(db.settings(), db.factory, sender, clock=lambda: clock[0])
    assert asyncio.run(worker.run(once=True)).retry == 1
    make_due(db)
    clock[0] += timedelta(hours=3)  # the template is cached; only the Date may change
    assert asyncio.run(worker.run(once=True)).sent == 1

    first, second = (parse(raw) for raw in sender.messages)
    assert first["Message-ID"] == second["Message-ID"] == deliveries(db, campaign)[0].message_id
    assert parsedate_to_datetime(first["Date"]) == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert parsedate_to_datetime(second["Date"]) == datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_message_ids_are_stable_per_delivery_and_unguessable_without_the_secret() -> None:
    one = message_id_for("secret", "r2p.example.org", 7, 3, 11)
    assert one == message_id_for("secret", "r2p.example.org", 7, 3, 11)
    assert one.startswith("7.") and one.endswith("@r2p.example.org")
    others = {
        message_id_for("other secret", "r2p.example.org", 7, 3, 11),
        message_id_for("secret", "r2p.example.org", 8, 3, 11),
        message_id_for("secret", "r2p.example.org", 7, 4, 11),  # a reused row id
        message_id_for("secret", "r2p.example.org", 7, 3, 12),
    }
    assert one not in others and len(others) == 4


def test_lines_starting_with_a_dot_arrive_intact_over_real_smtp(
    db: Db, smtp_server: SMTPServer
) -> None:
    body = ".hidden line\n..two dots\nend ."
    campaign = alert_campaign(db, add_readers(db, ["dots@example.org"]))
    with db.session() as session:
        row = session.get_one(Campaign, campaign)
        row.context = {**row.context, "body": body}
        session.commit()
    assert drain(db, smtp_sender(smtp_server.url)).sent == 1
    text = smtp_server.received[0].message.get_body(("plain",))
    assert text is not None
    assert ".hidden line\n..two dots\nend ." in text.get_content().replace("\r\n", "\n")


def test_data_payload_stuffs_dots_and_leaves_unclean_messages_to_aiosmtplib() -> None:
    assert data_payload(b".a\r\nb\r\n.c\r\n") == b"..a\r\nb\r\n..c\r\n.\r\n"
    assert data_payload(b"no final newline") == b"no final newline\r\n.\r\n"
    assert data_payload(b"bare\nnewline\r\n") is None
    assert data_payload(b"bare\rcarriage\r\n") is None
