"""One bad message or a broken sender call ends neither its lane nor the batch in a way
that sends anything twice: the other lanes stop before rows are given back, and the bad
delivery is settled on its own (retried, or failed if its message cannot be built)."""

from __future__ import annotations

import asyncio
import collections

from jobs.deliver import DeliveryWorker
from mailer.outbox.ledger import Claimed
from mailer.sending.base import SendResult
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries

BROKEN = "reader0005@example.org"


class BrokenForOneSender:
    """Two lanes; raises (a bug in a sender, not an SMTP reply) for one recipient."""

    concurrency = 2

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        await asyncio.sleep(0.003)
        if recipient == BROKEN:
            raise ValueError("a bug in the sender")
        self.sent.append(recipient)
        return SendResult("sent", 250, "2.0.0 queued")

    async def aclose(self) -> None:
        return None


class UnbuildableWorker(DeliveryWorker):
    """A worker that cannot build one reader's message (e.g. a bad slot value)."""

    def message_for(self, claimed: Claimed, template: object) -> tuple[str, bytes]:  # type: ignore[override]
        if claimed.email == "reader0007@example.org":
            raise ValueError("a header value that would break a line")
        return super().message_for(claimed, template)  # type: ignore[arg-type]


def test_an_exception_for_one_message_sends_nothing_twice(db: Db) -> None:
    readers = add_readers(db, [f"reader{i:04d}@example.org" for i in range(40)])
    alert_campaign(db, readers)
    sender = BrokenForOneSender()
    worker = UnbuildableWorker(db.settings(), db.factory, sender)
    asyncio.run(worker.run(once=True))

    counts = collections.Counter(sender.sent)
    assert set(counts.values()) == {1}  # nobody got it twice
    assert len(counts) == 38  # everyone but the two bad ones
    by_email = {d.subscriber_id: d for d in deliveries(db)}
    rows = {readers[i]: by_email[readers[i]] for i in range(40)}
    broken, unbuildable = rows[readers[5]], rows[readers[7]]
    assert broken.status == "queued" and "send error" in broken.last_reply
    assert unbuildable.status == "failed" and "cannot build" in unbuildable.last_reply
    others = [d for sid, d in rows.items() if sid not in (readers[5], readers[7])]
    assert {d.status for d in others} == {"sent"} and {d.attempts for d in others} == {1}
