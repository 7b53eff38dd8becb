"""The emails a reader gets about their subscription, one small function each.

They go through the delivery engine's outbox like every other mail
(``queue_transactional``); the worker fills in the reader's address and signed links.
Each function only builds the context, and refuses to mail one address more than
``PER_ADDRESS`` times a signup window, so the form cannot be used to bomb a mailbox.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.models import Campaign, Subscriber
from mailer.outbox import queue_transactional
from subscribers.choices import Choices, describe, vocabulary

PER_ADDRESS = 3
CONFIRM = "confirm"
MANAGE = "manage"
SUBJECTS = {
    CONFIRM: "Please confirm your subscription to R2P news",
    MANAGE: "Your R2P news subscription",
}


def _recently_mailed(
    template: str, subscriber: Subscriber, *, settings: Settings, now: datetime, session: Session
) -> int:
    prefix = f"{template}:{subscriber.id}:"
    return int(
        session.scalar(
            select(func.count())
            .select_from(Campaign)
            .where(
                Campaign.kind == "transactional",
                Campaign.key.startswith(prefix, autoescape=True),
                Campaign.created_at >= now - settings.signup_rate_window,
            )
        )
        or 0
    )


def _queue(
    template: str,
    subscriber: Subscriber,
    context: dict[str, object],
    *,
    settings: Settings,
    now: datetime,
    session: Session,
) -> bool:
    if _recently_mailed(template, subscriber, settings=settings, now=now, session=session) >= (
        PER_ADDRESS
    ):
        return False
    queue_transactional(
        template,
        subscriber,
        subject=SUBJECTS[template],
        now=now,
        retry_for=settings.retry_for,
        session=session,
        context=context,
    )
    return True


def choices_of(subscriber: Subscriber) -> Choices:
    return Choices(
        language=subscriber.language,
        wants_digest=subscriber.wants_digest,
        wants_alerts=subscriber.wants_alerts,
        topics=tuple(subscriber.topics or ()),
    )


def queue_confirmation(
    subscriber: Subscriber, *, settings: Settings, now: datetime, session: Session
) -> bool:
    """The double opt-in email; False when this address was mailed too often just now."""
    days = max(1, settings.confirm_link_max_age.days)
    receives = describe(choices_of(subscriber), vocabulary(settings.relevance_file))
    return _queue(
        CONFIRM,
        subscriber,
        {
            "valid_days": days,
            "purge_days": max(1, settings.pending_purge_after.days),
            "receives": receives,
        },
        settings=settings,
        now=now,
        session=session,
    )


def queue_manage_link(
    subscriber: Subscriber, *, settings: Settings, now: datetime, session: Session
) -> bool:
    """The email for a signup of an address that is already active: a link to its
    preferences (the form itself says the same whatever the address: no enumeration)."""
    return _queue(MANAGE, subscriber, {}, settings=settings, now=now, session=session)
