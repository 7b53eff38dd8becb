"""Forgetting signups that were never confirmed (R2P_PENDING_PURGE_AFTER).

Whoever never clicked the confirmation link never consented: after the grace period the
address, choices and consent record go. Age counts from the latest signup request, so a
reader who asked again yesterday keeps a fresh link.

A reader who opted out is never purged because someone signed their address up again:
the signup only added a request to their consent history, and an unconfirmed request
older than the grace period is what goes (with the IP and browser it recorded).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session, aliased

from mailer.models import ConsentEvent, Subscriber
from mailer.outbox.status import SubscriberStatus
from subscribers.consent import CONFIRMED, SIGNUP
from subscribers.gdpr import delete_subscribers

BATCH = 1000


def purge_unconfirmed(*, now: datetime, older_than: timedelta, session: Session) -> int:
    """Delete pending subscribers whose last signup is older than ``older_than``."""
    cutoff = now - older_than
    asked_at = func.coalesce(Subscriber.consent_at, Subscriber.created_at)
    purged = 0
    while ids := list(
        session.scalars(
            select(Subscriber.id)
            .where(Subscriber.status == SubscriberStatus.PENDING, asked_at < cutoff)
            .limit(BATCH)
        )
    ):
        purged += delete_subscribers(ids, session=session)
    forget_unconfirmed_requests(now=now, older_than=older_than, session=session)
    return purged


def forget_unconfirmed_requests(*, now: datetime, older_than: timedelta, session: Session) -> int:
    """Delete signup requests nobody confirmed within ``older_than`` from the histories of
    readers who are not pending (those go whole, above)."""
    confirmation = aliased(ConsentEvent)
    confirmed = exists().where(
        confirmation.event == CONFIRMED, confirmation.request_id == ConsentEvent.id
    )
    not_pending = select(Subscriber.id).where(Subscriber.status != SubscriberStatus.PENDING)
    result = session.execute(
        delete(ConsentEvent)
        .where(
            ConsentEvent.event == SIGNUP,
            ConsentEvent.at < now - older_than,
            ConsentEvent.subscriber_id.in_(not_pending),
            ~confirmed,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
