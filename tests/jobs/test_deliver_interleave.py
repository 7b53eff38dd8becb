"""Urgent mail due while a digest batch is being sent goes out next without the batch being
given back: one claim for the batch, the urgent rows claimed alongside it, no release.

Giving the batch back and claiming it again for every confirmation cost each signup two
write transactions of hundreds of rows, against SQLite's single writer lock."""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime

from jobs.deliver import DeliveryWorker
from mailer.models import Campaign, Delivery
from mailer.outbox.campaigns import start
from mailer.outbox.ledger import Claimed
from mailer.outbox.status import Priority
from subscribers.choices import Choices
from subscribers.consent import FORM_SENTENCE, Consent
from subscribers.signup import request_signup
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import PacedSender, deliveries

SIGNUP_AT = (20, 60, 100, 140, 180)  # after these many messages, someone signs up


class CountingWorker(DeliveryWorker):
    """A delivery worker that counts its batch claims."""

    claims: int = 0

    def _claim(self, limit: int) -> list[Claimed]:
        found = super()._claim(limit)
        self.claims += bool(found)
        return found


def sign_up(db: Db, address: str) -> None:
    now = datetime.now(UTC)
    consent = Consent(at=now, form="test", text=FORM_SENTENCE, ip="192.0.2.1", user_agent="t")
    choices = Choices(language="en", wants_digest=True, wants_alerts=True, topics=())
    with db.session() as session:
        result = request_signup(
            address, choices, consent, settings=db.settings(), now=now, session=session
        )
        session.commit()
    assert result.mailed


def test_confirmations_due_mid_digest_go_next_and_the_batch_is_not_given_back(db: Db) -> None:
    readers = add_readers(db, [f"digest{i:04d}@example.org" for i in range(600)])
    digest = alert_campaign(
        db, readers, key="digest:2026-W49", subject="Weekly", priority=Priority.DIGEST
    )
    holder: list[DeliveryWorker] = []

    def signup_at(count: int) -> None:
        if count in SIGNUP_AT:
            sign_up(db, f"new{count}@example.net")
            holder[0].wake()

    sender = PacedSender(signup_at)
    worker = CountingWorker(db.settings(delivery_batch=600), db.factory, sender)
    holder.append(worker)
    progress = asyncio.run(worker.run(once=True))

    counts = collections.Counter(sender.sent)
    assert len(counts) == 605 and set(counts.values()) == {1}  # none lost, none twice
    last_digest = max(i for i, to in enumerate(sender.sent) if to.startswith("digest"))
    confirmations = [i for i, to in enumerate(sender.sent) if to.startswith("new")]
    assert max(confirmations) < last_digest  # each went ahead of the rest of the batch
    assert worker.claims == 1  # the digest batch was claimed once, not again per signup
    assert progress.released == 0
    assert {d.attempts for d in deliveries(db)} == {1}
    assert {d.status for d in deliveries(db, digest)} == {"sent"}
    with db.session() as session:
        confirm = session.query(Delivery).join(Campaign).filter(Campaign.kind == "transactional")
        assert {d.status for d in confirm} == {"sent"}
        assert confirm.count() == len(SIGNUP_AT)


def test_urgent_rows_fill_the_queue_up_to_one_batch_at_a_time(db: Db) -> None:
    """An alert to more readers than a batch, approved mid-digest: it is taken a batch at a
    time while the digest batch waits, and all of it goes before the digest's rest."""
    digest = alert_campaign(
        db,
        add_readers(db, [f"digest{i:04d}@example.org" for i in range(300)]),
        key="digest:2026-W49",
        priority=Priority.DIGEST,
    )
    alert = alert_campaign(
        db, add_readers(db, [f"alert{i:04d}@example.org" for i in range(250)]), approve=False
    )
    holder: list[DeliveryWorker] = []

    def approve_at_10th(count: int) -> None:
        if count == 10:
            with db.session() as session:
                start(
                    session.get_one(Campaign, alert), by="a", now=datetime.now(UTC), session=session
                )
                session.commit()
            holder[0].wake()

    sender = PacedSender(approve_at_10th)
    worker = CountingWorker(db.settings(delivery_batch=300), db.factory, sender)
    holder.append(worker)
    progress = asyncio.run(worker.run(once=True))

    assert len(sender.sent) == len(set(sender.sent)) == 550
    last_alert = max(i for i, to in enumerate(sender.sent) if to.startswith("alert"))
    digest_after = [to for to in sender.sent[last_alert:] if to.startswith("digest")]
    assert len(digest_after) > 200  # the alert went ahead of most of the digest batch
    assert worker.claims == 1 and progress.released == 0
    assert {d.status for d in deliveries(db)} == {"sent"}
    assert {d.attempts for d in deliveries(db, digest)} == {1}


def test_confirmations_asking_for_the_same_things_share_one_rendering(db: Db) -> None:
    for i in range(12):
        sign_up(db, f"new{i}@example.net")  # the same choices each time
    now = datetime.now(UTC)
    consent = Consent(at=now, form="test", text=FORM_SENTENCE, ip="192.0.2.1", user_agent="t")
    digest_only = Choices(language="en", wants_digest=True, wants_alerts=False, topics=())
    with db.session() as session:
        request_signup(
            "other@example.net",
            digest_only,
            consent,
            settings=db.settings(),
            now=now,
            session=session,
        )
        session.commit()
    sender = PacedSender(lambda n: None)
    worker = DeliveryWorker(db.settings(), db.factory, sender)
    asyncio.run(worker.run(once=True))
    assert sorted(sender.sent) == sorted(
        [f"new{i}@example.net" for i in range(12)] + ["other@example.net"]
    )
    assert worker.renders == 2  # one per distinct mail, not one per reader
