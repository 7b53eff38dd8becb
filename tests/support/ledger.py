"""Factories for delivery tests: readers, campaigns and a worker run against a sender."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from jobs.deliver import DeliveryWorker, Progress
from mailer.config import Settings
from mailer.models import Campaign, Delivery, Subscriber
from mailer.outbox.campaigns import get_or_create_campaign, start
from mailer.outbox.ledger import enqueue
from mailer.outbox.status import Priority
from mailer.sending.base import Sender, SendResult
from mailer.sending.smtp import SMTPPool, parse_smtp_url
from tests.conftest import Db


def add_readers(db: Db, emails: list[str], **fields: Any) -> list[int]:
    values = {"status": "active", **fields}
    with db.session() as session:
        readers = [Subscriber(email=email, **values) for email in emails]
        session.add_all(readers)
        session.commit()
        return [reader.id for reader in readers]


def alert_campaign(
    db: Db,
    reader_ids: list[int],
    *,
    key: str = "alert:test",
    subject: str = "Imminent risk in El Fasher",
    priority: int = Priority.ALERT,
    expires_in: timedelta | None = None,
    deadline: timedelta = timedelta(days=2),
    approve: bool = True,
) -> int:
    now = datetime.now(UTC)
    with db.session() as session:
        campaign, _ = get_or_create_campaign(
            kind="alert",
            key=key,
            template="alert",
            subject=subject,
            context={"body": "Civilians are at imminent risk.", "link": "https://example.org/a"},
            priority=priority,
            expires_at=now + expires_in if expires_in else None,
            session=session,
        )
        if approve:
            start(campaign, by="admin@example.org", now=now, session=session)
        enqueue(
            campaign,
            [(i, "en") for i in reader_ids],
            deadline_at=now + deadline,
            now=now,
            session=session,
        )
        session.commit()
        return campaign.id


def smtp_sender(url: str, connections: int = 2) -> SMTPPool:
    return SMTPPool(parse_smtp_url(url, timeout=5), connections=connections)


def drain(db: Db, sender: Sender, settings: Settings | None = None, **overrides: Any) -> Progress:
    worker = DeliveryWorker(settings or db.settings(**overrides), db.factory, sender)
    return asyncio.run(worker.run(once=True))


def deliveries(db: Db, campaign_id: int | None = None) -> list[Delivery]:
    with db.session() as session:
        query = select(Delivery).order_by(Delivery.id)
        if campaign_id is not None:
            query = query.where(Delivery.campaign_id == campaign_id)
        return list(session.scalars(query))


def campaign_status(db: Db, campaign_id: int) -> str:
    with db.session() as session:
        return session.get_one(Campaign, campaign_id).status


def make_due(db: Db) -> None:
    """Bring every queued retry forward to now (instead of waiting for the backoff)."""
    with db.session() as session:
        for delivery in session.scalars(select(Delivery).where(Delivery.status == "queued")):
            delivery.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()


class PacedSender:
    """Takes 2 ms a message, like a real relay, and calls ``after(n)`` after the n-th."""

    concurrency = 1

    def __init__(self, after: Callable[[int], None]) -> None:
        self.sent: list[str] = []
        self.after = after

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        await asyncio.sleep(0.002)
        self.sent.append(recipient)
        self.after(len(self.sent))
        return SendResult("sent", 250, "2.0.0 queued")

    async def aclose(self) -> None:
        return None
