"""Delivery tests' tools: a worker run against a sender, an SMTP pool, and the ledger
read back (rows are made by tests/support/factories.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from jobs.deliver import DeliveryWorker, Progress
from mailer.config import Settings
from mailer.models import Campaign, Delivery
from mailer.sending.base import Sender, SendResult
from mailer.sending.smtp import SMTPPool, parse_smtp_url
from tests.conftest import Db


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
