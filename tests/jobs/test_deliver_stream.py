"""A worker sending a long queue tops its batch up while it sends (in the transaction that
records replies), so the SMTP connections never stand idle waiting for a claim behind
another writer, and it still never holds more than a batch; wake-ups from a stream of
signups do not each become a write transaction."""

from __future__ import annotations

import asyncio
import collections
import time

from sqlalchemy import func, select

from jobs.deliver import STREAM_BATCHES, DeliveryWorker
from mailer.models import Delivery
from mailer.outbox.ledger import Claimed, Settled
from mailer.outbox.status import Priority
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import PacedSender, deliveries


class CountingWorker(DeliveryWorker):
    """Counts its batch claims and its recordings of replies."""

    claims: int = 0
    settles: int = 0

    def _claim(self, limit: int) -> list[Claimed]:
        found = super()._claim(limit)
        self.claims += bool(found)
        return found

    def _settle(self, results: list[Settled], *args: object, **kwargs: object) -> object:  # type: ignore[override]
        self.settles += 1
        return super()._settle(results, *args, **kwargs)  # type: ignore[arg-type]


def sending_now(db: Db) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).where(Delivery.status == "sending")) or 0)


def test_a_long_queue_is_one_claim_topped_up_and_never_more_than_a_batch_held(db: Db) -> None:
    readers = add_readers(db, [f"reader{i:04d}@example.org" for i in range(1000)])
    digest = alert_campaign(db, readers, key="digest:2026-W49", priority=Priority.DIGEST)
    held: list[int] = []

    def look(count: int) -> None:
        if count % 25 == 0:
            held.append(sending_now(db))

    sender = PacedSender(look)
    worker = CountingWorker(db.settings(delivery_batch=200), db.factory, sender)
    progress = asyncio.run(worker.run(once=True))

    assert collections.Counter(sender.sent).most_common(1)[0][1] == 1
    assert len(sender.sent) == progress.sent == 1000
    assert worker.claims == 1  # one claim; the rest came with the recordings of replies
    assert max(held) <= 200  # topped up, never more than one batch held
    assert min(held[: len(held) // 2]) > 100  # and never run down while more was due
    assert {d.status for d in deliveries(db, digest)} == {"sent"}
    assert {d.attempts for d in deliveries(db, digest)} == {1}


def test_a_stream_ends_after_a_bounded_number_of_batches(db: Db) -> None:
    batch = 20
    total = batch * STREAM_BATCHES * 3
    readers = add_readers(db, [f"reader{i:04d}@example.org" for i in range(total)])
    alert_campaign(db, readers, key="digest:2026-W49", priority=Priority.DIGEST)
    sender = PacedSender(lambda n: None)
    worker = CountingWorker(db.settings(delivery_batch=batch), db.factory, sender)
    progress = asyncio.run(worker.run(once=True))
    assert progress.sent == total
    assert 3 <= worker.claims <= 4  # each stream about STREAM_BATCHES batches


def test_wake_ups_during_a_batch_do_not_each_record_replies(db: Db) -> None:
    readers = add_readers(db, [f"reader{i:04d}@example.org" for i in range(300)])
    alert_campaign(db, readers, key="digest:2026-W49", priority=Priority.DIGEST)
    holder: list[DeliveryWorker] = []
    sender = PacedSender(lambda n: holder[0].wake())  # a signup after every message
    worker = CountingWorker(db.settings(delivery_batch=300), db.factory, sender)
    holder.append(worker)
    started = time.monotonic()
    asyncio.run(worker.run(once=True))
    elapsed = time.monotonic() - started
    assert len(sender.sent) == 300
    # Replies are recorded every 100 ms or 100 messages, whatever the wake-ups: a bound
    # worked out from this run's own length, not a timing threshold.
    assert worker.settles <= 300 // 100 + elapsed / 0.1 + 3, (worker.settles, elapsed)
