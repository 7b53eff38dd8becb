"""Transactional mail, the outbox's one-reader stage: a confirmation or a "manage your
subscription" email is a campaign of its own with one delivery, approved at once and
sent through the same ledger and worker as bulk mail, ahead of digest traffic.

Data functions take ``session`` keyword-only and never commit.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from mailer.models import Campaign, Subscriber
from mailer.outbox.campaigns import get_or_create_campaign, start
from mailer.outbox.ledger import enqueue
from mailer.outbox.status import Priority


def queue_transactional(
    template: str,
    subscriber: Subscriber,
    *,
    subject: str,
    now: datetime,
    retry_for: timedelta,
    session: Session,
    context: dict[str, Any] | None = None,
) -> Campaign:
    """One email to one reader (confirmation, "manage your subscription"), through the same
    ledger and worker as bulk mail, ahead of digest traffic."""
    campaign, _ = get_or_create_campaign(
        kind="transactional",
        key=f"{template}:{subscriber.id}:{secrets.token_hex(8)}",
        template=template,
        subject=subject,
        context=context or {},
        priority=Priority.TRANSACTIONAL,
        created_by="system",
        session=session,
    )
    start(campaign, by="system", now=now, session=session)
    enqueue(campaign, [(subscriber.id, "")], deadline_at=now + retry_for, now=now, session=session)
    return campaign
