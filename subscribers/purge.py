"""Forgetting signups that were never confirmed (R2P_PENDING_PURGE_AFTER).

Whoever never clicked the confirmation link never consented: after the grace period the
address, choices and consent record go. Age counts from the latest signup request, so a
reader who asked again yesterday keeps a fresh link.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.models import Subscriber
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
            .where(Subscriber.status == "pending", asked_at < cutoff)
            .limit(BATCH)
        )
    ):
        purged += delete_subscribers(ids, session=session)
    return purged
