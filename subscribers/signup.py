"""Signing up: a pending subscriber with a consent record, then a confirmation email.

The outcome is never shown to the person at the form (no enumeration): a new, pending or
lapsed address gets a confirmation email, an already active one a "manage your
subscription" email, and the page says the same in every case.

A form proves nothing about the mailbox, so a signup never changes a reader who opted out
(unsubscribed, bounced, complained): their status, choices and consent stay as they are,
and the request (its choices and consent) waits in their consent history until the
confirmation link is used (``subscribers.preferences.confirm``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.db import dialect_insert
from mailer.errors import MailerError
from mailer.models import Subscriber
from mailer.outbox.status import SubscriberStatus
from subscribers.choices import Choices
from subscribers.consent import ADMIN, SIGNUP, Consent, record_event
from subscribers.lookup import find_by_email
from subscribers.mails import queue_confirmation, queue_manage_link

Outcome = Literal["new", "pending", "active", "returning"]


class AlreadyListedError(MailerError):
    """An admin tried to add an address that is already on the list."""

    def __init__(self, subscriber: Subscriber) -> None:
        super().__init__(f"already on the list ({subscriber.status})")
        self.status = subscriber.status


@dataclass(frozen=True)
class SignupResult:
    outcome: Outcome  # for logs and tests only, never for the page
    mailed: bool


def apply_choices(subscriber: Subscriber, choices: Choices) -> None:
    subscriber.language = choices.language
    subscriber.wants_digest = choices.wants_digest
    subscriber.wants_alerts = choices.wants_alerts
    subscriber.topics = list(choices.topics)
    if choices.include_english is not None:
        subscriber.include_english = choices.include_english


def _insert_pending(
    address: str, choices: Choices, consent: Consent, *, now: datetime, session: Session
) -> Subscriber | None:
    """A new pending row, or None if another request inserted this address first.

    ``ON CONFLICT DO NOTHING`` rather than a savepoint: pysqlite's SAVEPOINT handling
    would commit early, and the rest of the signup must stay in the caller's transaction.
    """
    draft = Subscriber()
    apply_choices(draft, choices)
    consent.record_on(draft)
    columns = (
        "language",
        "wants_digest",
        "wants_alerts",
        "topics",
        "consent_at",
        "consent_form",
        "consent_text",
        "consent_ip",
        "consent_user_agent",
    )
    values = {name: getattr(draft, name) for name in columns}
    new_id = session.scalar(
        dialect_insert(session)(Subscriber)
        .values(
            email=address, status=SubscriberStatus.PENDING, created_at=now, hard_bounces=0, **values
        )
        .on_conflict_do_nothing(index_elements=[Subscriber.email])
        .returning(Subscriber.id)
    )
    return None if new_id is None else session.get_one(Subscriber, new_id)


def request_signup(
    address: str,
    choices: Choices,
    consent: Consent,
    *,
    settings: Settings,
    now: datetime,
    session: Session,
) -> SignupResult:
    """Record a signup for the normalised ``address`` and queue the right email."""
    subscriber = find_by_email(address, session=session)
    if subscriber is None:
        subscriber = _insert_pending(address, choices, consent, now=now, session=session)
        if subscriber is not None:
            record_event(subscriber.id, SIGNUP, consent, choices, session=session)
            mailed = queue_confirmation(subscriber, settings=settings, now=now, session=session)
            return SignupResult("new", mailed)
        subscriber = find_by_email(address, session=session)
        assert subscriber is not None
    if subscriber.status == SubscriberStatus.ACTIVE:
        # Nothing changes without proof of the mailbox: the reader gets their own link.
        mailed = queue_manage_link(
            subscriber, settings=settings, now=now, session=session, language=choices.language
        )
        return SignupResult("active", mailed)
    record_event(subscriber.id, SIGNUP, consent, choices, session=session)
    if subscriber.status == SubscriberStatus.PENDING:
        # Never confirmed, nothing to protect: the latest request is what they confirm.
        apply_choices(subscriber, choices)
        consent.record_on(subscriber)
        session.flush()
        mailed = queue_confirmation(subscriber, settings=settings, now=now, session=session)
        return SignupResult("pending", mailed)
    mailed = queue_confirmation(
        subscriber, settings=settings, now=now, session=session, choices=choices
    )
    return SignupResult("returning", mailed)


def resend_link(address: str, *, settings: Settings, now: datetime, session: Session) -> bool:
    """A fresh confirmation (pending) or preferences link (active); nothing otherwise."""
    subscriber = find_by_email(address, session=session)
    if subscriber is None:
        return False
    if subscriber.status == SubscriberStatus.PENDING:
        return queue_confirmation(subscriber, settings=settings, now=now, session=session)
    if subscriber.status == SubscriberStatus.ACTIVE:
        return queue_manage_link(subscriber, settings=settings, now=now, session=session)
    return False


def admin_subscriber(
    address: str, choices: Choices, consent: Consent, *, confirmed: bool, now: datetime
) -> Subscriber:
    """The row for a reader an admin adds, not yet in a session (``add_by_admin``, and
    imports, which add many at once)."""
    subscriber = Subscriber(
        email=address,
        status=SubscriberStatus.ACTIVE if confirmed else SubscriberStatus.PENDING,
        created_at=now,
        confirmed_at=now if confirmed else None,
        hard_bounces=0,
    )
    apply_choices(subscriber, choices)
    consent.record_on(subscriber)
    return subscriber


def add_by_admin(
    address: str,
    choices: Choices,
    consent: Consent,
    *,
    confirmed: bool,
    settings: Settings,
    now: datetime,
    session: Session,
) -> Subscriber:
    """Add a reader an admin knows. ``confirmed``: they consented elsewhere, so they are
    active at once; otherwise they get a confirmation email like a form signup.
    An address already on the list is refused, whatever its status: an import must never
    undo an unsubscribe."""
    existing = find_by_email(address, session=session)
    if existing is not None:
        raise AlreadyListedError(existing)
    subscriber = admin_subscriber(address, choices, consent, confirmed=confirmed, now=now)
    session.add(subscriber)
    session.flush()
    record_event(subscriber.id, ADMIN, consent, choices, session=session)
    if not confirmed:
        queue_confirmation(subscriber, settings=settings, now=now, session=session)
    return subscriber
