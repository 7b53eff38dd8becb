"""A claim looks past batches of readers who left, but only for CLAIM_ROUNDS batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailer.models import Subscriber
from mailer.outbox.ledger import CLAIM_ROUNDS, Claimed, claim
from mailer.outbox.status import DeliveryStatus, SubscriberStatus
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries

BATCH = 2


def queue_behind_readers_who_left(db: Db, left: int) -> int:
    """``left`` queued rows for readers who unsubscribed since, claimed before one row for
    a reader still there; the id of that reader."""
    gone = add_readers(db, [f"gone{i:03}@example.org" for i in range(left)])
    alert_campaign(db, gone, key="alert:a-first")
    [stays] = add_readers(db, ["stays@example.org"])
    alert_campaign(db, [stays], key="alert:b-second")
    with db.session() as session:
        for reader in gone:
            session.get_one(Subscriber, reader).status = SubscriberStatus.UNSUBSCRIBED
        session.commit()
    return stays


def claim_batch(db: Db) -> list[Claimed]:
    with db.session() as session:
        claimed = claim(
            worker="w",
            limit=BATCH,
            lease=timedelta(minutes=5),
            now=datetime.now(UTC),
            session=session,
        )
        session.commit()
    return claimed


def statuses(db: Db) -> list[str]:
    return [row.status for row in deliveries(db)]


def test_a_claim_looks_past_batches_of_readers_who_left(db: Db) -> None:
    stays = queue_behind_readers_who_left(db, left=BATCH * (CLAIM_ROUNDS - 1))
    assert [c.subscriber_id for c in claim_batch(db)] == [stays]
    assert statuses(db).count(DeliveryStatus.CANCELLED) == BATCH * (CLAIM_ROUNDS - 1)


def test_a_claim_stops_after_its_rounds_and_the_next_goes_on(db: Db) -> None:
    stays = queue_behind_readers_who_left(db, left=BATCH * CLAIM_ROUNDS + 1)
    assert claim_batch(db) == []
    assert statuses(db).count(DeliveryStatus.CANCELLED) == BATCH * CLAIM_ROUNDS
    assert statuses(db).count(DeliveryStatus.QUEUED) == 2
    assert [c.subscriber_id for c in claim_batch(db)] == [stays]
    assert statuses(db).count(DeliveryStatus.QUEUED) == 0
