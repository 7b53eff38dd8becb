"""After signup: confirming, changing choices, unsubscribing. Each takes effect at once.

Unsubscribing also cancels whatever is still queued for the reader, so nothing more goes
out after the click (a message already handed to the SMTP server cannot be recalled).
Every change of consent is appended to the reader's consent history. Coming back after an
opt-out gives the reader a new link secret: links from before stop working.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailer.models import Delivery, Subscriber, new_link_secret
from mailer.outbox.ledger import cancel_queued_where
from mailer.outbox.status import SubscriberStatus
from subscribers.choices import Choices
from subscribers.consent import (
    CONFIRMED,
    RESTORED,
    WITHDRAWN,
    Consent,
    open_request,
    record_event,
)
from subscribers.mails import choices_of
from subscribers.signup import apply_choices


def awaits_confirmation(subscriber: Subscriber, *, session: Session) -> bool:
    """Whether the confirmation button would change something: a pending signup, or a
    request to come back from a reader who opted out."""
    if subscriber.status == SubscriberStatus.PENDING:
        return True
    if subscriber.status == SubscriberStatus.ACTIVE:
        return False
    return open_request(subscriber.id, session=session) is not None


def _activate(subscriber: Subscriber, *, now: datetime) -> None:
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.confirmed_at = now
    subscriber.hard_bounces = 0


def confirm(subscriber: Subscriber, *, now: datetime, session: Session) -> bool:
    """The reader pressed the confirmation button; True if this confirmed something.

    Pending -> active. A reader who opted out comes back only if a signup request is
    waiting (its choices and consent take effect now, and their link secret is replaced);
    otherwise nothing changes (an old confirmation link must not undo an unsubscribe)."""
    if subscriber.status == SubscriberStatus.ACTIVE:
        return False
    request = open_request(subscriber.id, session=session)
    if subscriber.status != SubscriberStatus.PENDING:
        if request is None:
            return False
        apply_choices(subscriber, choices_of(request))
        subscriber.link_secret = new_link_secret()
    if request is not None:
        consent = Consent.of(request)
        consent.record_on(subscriber)
    else:  # signed up before consent history: the record on the row is what they confirm
        consent = Consent(
            at=subscriber.consent_at or now,
            form=subscriber.consent_form,
            text=subscriber.consent_text,
            ip=subscriber.consent_ip,
            user_agent=subscriber.consent_user_agent,
        )
    _activate(subscriber, now=now)
    session.flush()
    record_event(
        subscriber.id,
        CONFIRMED,
        Consent(now, consent.form, consent.text, consent.ip, consent.user_agent),
        choices_of(subscriber),
        session=session,
        request_id=request.id if request is not None else None,
    )
    return True


def save_choices(subscriber: Subscriber, choices: Choices, *, session: Session) -> None:
    """Store an active reader's new choices. A reader who opted out comes back through a
    signup request confirmed from their mailbox (subscribers.signup), never by saving
    from a preferences link, which may sit in a forwarded digest."""
    if subscriber.status != SubscriberStatus.ACTIVE:
        raise ValueError("only an active reader's choices are saved directly")
    apply_choices(subscriber, choices)
    session.flush()


def cancel_queued(subscriber_id: int, reason: str, *, session: Session) -> int:
    return cancel_queued_where(Delivery.subscriber_id == subscriber_id, reason, session=session)


def unsubscribe(
    subscriber: Subscriber, *, now: datetime, session: Session, how: str = "unsubscribe"
) -> bool:
    """Stop all mail to the reader now; False if they were already unsubscribed. The
    withdrawal is kept in the consent history (``how``: the button or one-click)."""
    cancel_queued(subscriber.id, "the reader unsubscribed", session=session)
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = now
    session.flush()
    record_event(
        subscriber.id, WITHDRAWN, Consent(now, how, ""), choices_of(subscriber), session=session
    )
    return True


def complain(subscriber: Subscriber, *, now: datetime, session: Session, how: str) -> bool:
    """The reader reported our mail as spam (a feedback report): stop all mail to them
    now, as an unsubscribe that only they can undo (signing up again); False if they had
    complained already. Kept in the consent history (``how``: the report's source)."""
    cancel_queued(subscriber.id, "the reader complained", session=session)
    if subscriber.status == SubscriberStatus.COMPLAINED:
        return False
    subscriber.status = SubscriberStatus.COMPLAINED
    subscriber.unsubscribed_at = subscriber.unsubscribed_at or now
    session.flush()
    record_event(
        subscriber.id, WITHDRAWN, Consent(now, how, ""), choices_of(subscriber), session=session
    )
    return True


def restore(
    subscriber: Subscriber, *, now: datetime, how: str, note: str, session: Session
) -> None:
    """Make a suppressed reader active again (their earlier consent applies again), with
    the hard-bounce count cleared; kept in the consent history (``how``, ``note``)."""
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.unsubscribed_at = None
    subscriber.hard_bounces = 0
    session.flush()
    record_event(
        subscriber.id, RESTORED, Consent(now, how, note), choices_of(subscriber), session=session
    )
