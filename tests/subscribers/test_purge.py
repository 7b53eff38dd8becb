"""purge_unconfirmed: signups never confirmed go after the grace period, nobody else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from mailer.db import session_scope
from mailer.models import Campaign, Delivery, Subscriber
from mailer.outbox.transactional import queue_transactional
from subscribers import purge
from subscribers.purge import purge_unconfirmed
from tests.conftest import Db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def reader(
    email: str, status: str, asked_days_ago: int, created_days_ago: int | None = None
) -> Subscriber:
    return Subscriber(
        email=email,
        status=status,
        created_at=NOW - timedelta(days=created_days_ago or asked_days_ago),
        consent_at=NOW - timedelta(days=asked_days_ago),
        topics=[],
    )


def test_it_purges_only_old_pending_signups_and_their_mail(db: Db) -> None:
    with session_scope(db.factory) as session:
        session.add_all(
            [
                reader("old-pending@example.org", "pending", 15),
                reader("young-pending@example.org", "pending", 13),
                reader("asked-again@example.org", "pending", 1, created_days_ago=40),
                reader("old-active@example.org", "active", 400),
                reader("old-unsubscribed@example.org", "unsubscribed", 400),
                reader("old-bounced@example.org", "bounced", 400),
            ]
        )
        session.flush()
        for subscriber in session.scalars(select(Subscriber)):
            queue_transactional(
                "confirm",
                subscriber,
                subject="Please confirm",
                now=NOW - timedelta(days=15),
                retry_for=timedelta(days=2),
                session=session,
                context={"valid_days": 7, "purge_days": 14, "receives": "x"},
            )
    with session_scope(db.factory) as session:
        assert purge_unconfirmed(now=NOW, older_than=timedelta(days=14), session=session) == 1
    with db.factory() as session:
        assert sorted(session.scalars(select(Subscriber.email))) == [
            "asked-again@example.org",
            "old-active@example.org",
            "old-bounced@example.org",
            "old-unsubscribed@example.org",
            "young-pending@example.org",
        ]
        assert session.scalar(select(func.count()).select_from(Delivery)) == 5
        assert session.scalar(select(func.count()).select_from(Campaign)) == 5
    with session_scope(db.factory) as session:
        assert purge_unconfirmed(now=NOW, older_than=timedelta(days=14), session=session) == 0


def test_it_purges_in_batches_beyond_one_batch(db: Db) -> None:

    with session_scope(db.factory) as session:
        session.add_all(reader(f"r{i}@example.org", "pending", 30) for i in range(purge.BATCH + 5))
    with session_scope(db.factory) as session:
        purged = purge_unconfirmed(now=NOW, older_than=timedelta(days=14), session=session)
    assert purged == purge.BATCH + 5
    with db.factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
