"""After signup: confirming, changing choices, unsubscribing. Each takes effect at once.

Unsubscribing also cancels whatever is still queued for the reader, so nothing more goes
out after the click (a message already handed to the SMTP server cannot be recalled).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from mailer.models import Delivery, Subscriber
from subscribers.choices import Choices
from subscribers.consent import Consent
from subscribers.signup import apply_choices


def confirm(subscriber: Subscriber, *, now: datetime, session: Session) -> bool:
    """Pending -> active; True if this call confirmed it. Other statuses stay as they are
    (an old confirmation link must not undo an unsubscribe)."""
    if subscriber.status != "pending":
        return False
    subscriber.status = "active"
    subscriber.confirmed_at = now
    subscriber.hard_bounces = 0
    session.flush()
    return True


def save_choices(
    subscriber: Subscriber, choices: Choices, consent: Consent, *, now: datetime, session: Session
) -> bool:
    """Store new choices. A reader who is not active (unsubscribed, bounced) subscribes
    again by saving, from a link that proves the mailbox is theirs: their consent is
    recorded anew. True if that happened."""
    apply_choices(subscriber, choices)
    resumed = subscriber.status != "active"
    if resumed:
        subscriber.status = "active"
        subscriber.confirmed_at = now
        subscriber.hard_bounces = 0
        consent.record_on(subscriber)
    session.flush()
    return resumed


def cancel_queued(subscriber_id: int, reason: str, *, session: Session) -> int:
    result = session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status == "queued")
        .values(status="cancelled", last_reply=reason)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def unsubscribe(subscriber: Subscriber, *, now: datetime, session: Session) -> bool:
    """Stop all mail to the reader now; False if they were already unsubscribed."""
    cancel_queued(subscriber.id, "the reader unsubscribed", session=session)
    if subscriber.status == "unsubscribed":
        return False
    subscriber.status = "unsubscribed"
    subscriber.unsubscribed_at = now
    session.flush()
    return True
