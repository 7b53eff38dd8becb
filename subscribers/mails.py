"""The emails a reader gets about their subscription, one small function each.

They go through the delivery engine's outbox like every other mail
(``queue_transactional``); the worker fills in the reader's address and signed links.
Each function only builds the context (with the reader's language: the mail and its
subject are in the language chosen on the form), and refuses to mail once the mailbox or its domain
has had its share this signup window (``subscribers.mailcap``), so the forms cannot be
used to bomb an inbox.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailer import i18n
from mailer.config import Settings
from mailer.i18n import N_
from mailer.models import ConsentEvent, Subscriber
from mailer.outbox.transactional import queue_transactional
from mailer.tokens import DATA_LINK_MAX_AGE
from subscribers.choices import Choices, describe, vocabulary
from subscribers.mailcap import take_mail_slot

CONFIRM = "confirm"
MANAGE = "manage"
DATA = "data"
SUBJECTS = {
    CONFIRM: N_("Please confirm your subscription to R2P news"),
    MANAGE: N_("Your R2P news subscription"),
    DATA: N_("Your data at R2P news"),
}


def _queue(
    template: str,
    subscriber: Subscriber,
    context: dict[str, object],
    *,
    settings: Settings,
    now: datetime,
    session: Session,
    language: str | None = None,
) -> bool:
    """``language``: the mail's, when not the reader's stored one (a form not yet applied)."""
    if not take_mail_slot(subscriber.email, settings=settings, now=now, session=session):
        return False
    chosen = i18n.supported(language or subscriber.language) or i18n.DEFAULT
    with i18n.use_language(chosen):
        subject = i18n.gettext(SUBJECTS[template])
    queue_transactional(
        template,
        subscriber,
        subject=subject,
        now=now,
        retry_for=settings.retry_for,
        session=session,
        context={**context, "language": chosen},
    )
    return True


def choices_of(row: Subscriber | ConsentEvent) -> Choices:
    """The choices a reader's row holds, or those a consent event recorded."""
    return Choices(
        language=row.language,
        wants_digest=row.wants_digest,
        wants_alerts=row.wants_alerts,
        topics=tuple(row.topics or ()),
        # Consent events do not record it: choices restored from one leave it as it is.
        include_english=row.include_english if isinstance(row, Subscriber) else None,
    )


def queue_confirmation(
    subscriber: Subscriber,
    *,
    settings: Settings,
    now: datetime,
    session: Session,
    choices: Choices | None = None,
) -> bool:
    """The double opt-in email, saying what the reader will get (``choices``, when they
    are a request not yet applied); False when the mailbox had its share just now."""
    days = max(1, settings.confirm_link_max_age.days)
    wanted = choices or choices_of(subscriber)
    with i18n.use_language(wanted.language):
        receives = describe(wanted, vocabulary(settings.relevance_file))
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
        language=wanted.language,
    )


def queue_manage_link(
    subscriber: Subscriber,
    *,
    settings: Settings,
    now: datetime,
    session: Session,
    language: str | None = None,
) -> bool:
    """The email for a signup of an address that is already active: a link to its
    preferences (the form itself says the same whatever the address: no enumeration), in
    the language chosen on that form (``language``), else the reader's."""
    return _queue(
        MANAGE, subscriber, {}, settings=settings, now=now, session=session, language=language
    )


def queue_data_link(
    subscriber: Subscriber, *, settings: Settings, now: datetime, session: Session
) -> bool:
    """A short-lived link to download the reader's data, sent to the reader's own
    mailbox: a preferences link (in every digest, perhaps forwarded) is not enough."""
    minutes = int(DATA_LINK_MAX_AGE.total_seconds() // 60)
    # Its template is not translated yet: English throughout, subject included.
    return _queue(
        DATA,
        subscriber,
        {"valid_minutes": minutes},
        settings=settings,
        now=now,
        session=session,
        language=i18n.DEFAULT,
    )
