"""Read-only views of the outbox: deliveries by status, queue depth and waiting retries,
for the admin pages, the health check and the worker's status line. Nothing here writes.

Data functions take ``session`` keyword-only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.models import Delivery
from mailer.outbox.status import ACTIVE_DELIVERY, DeliveryStatus


def delivery_counts(campaign_id: int, *, session: Session) -> dict[str, int]:
    """The campaign's deliveries by status, every status present (0 when none)."""
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    counts = {str(status): 0 for status in DeliveryStatus}
    counts.update({status: int(n) for status, n in rows})
    return counts


def queue_depth(*, session: Session) -> int:
    """Deliveries not settled yet: queued or held by a worker."""
    return int(
        session.scalar(select(func.count()).where(Delivery.status.in_(ACTIVE_DELIVERY))) or 0
    )


def retrying_now(*, now: datetime, session: Session) -> int:
    """Rows waiting for a retry at this moment: queued, tried before, due later."""
    return int(
        session.scalar(
            select(func.count()).where(
                Delivery.status == DeliveryStatus.QUEUED,
                Delivery.attempts > 0,
                Delivery.next_attempt_at > now,
            )
        )
        or 0
    )
