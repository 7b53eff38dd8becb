"""Readers as staff change them: add one, import a file, export the list, change one's
choices, suppress one or allow them again, remove (erase) one, purge unconfirmed
signups. Each writes one audit entry naming no address (the row id, the file name), so
the log never keeps what an erasure deleted.

Like data functions they take the session and never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.errors import MailerError
from mailer.models import Subscriber
from mailer.outbox.status import SubscriberStatus
from mailer.roles import Permission
from mailer.spreadsheet import write_csv
from staff.actions.actor import Actor
from subscribers.addresses import normalise_address
from subscribers.choices import Choices, clean_language, clean_topics, vocabulary
from subscribers.consent import (
    ADMIN_CONFIRMED,
    ADMIN_PENDING,
    CHANGED,
    WITHDRAWN,
    Consent,
    history,
    record_event,
)
from subscribers.gdpr import erase
from subscribers.importer import ImportReport, Row, import_subscribers
from subscribers.mails import choices_of
from subscribers.preferences import restore, unsubscribe
from subscribers.purge import purge_unconfirmed
from subscribers.signup import add_by_admin, apply_choices

CHOICES_CHANGED = "Choices changed by an admin; the reader's consent is unchanged."
SUPPRESSION_LIFTED = "An admin lifted the suppression; the reader's earlier consent applies again."


class NotAllowedAgainError(MailerError):
    """The reader stays suppressed: only they can undo an unsubscribe or complaint."""


EXPORT_COLUMNS = (
    "email",
    "status",
    "language",
    "wants_digest",
    "wants_alerts",
    "topics",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "hard_bounces",
    "consent_at",
    "consent_form",
    "consent_text",
    "consent_ip",
    "consent_user_agent",
)


def add(
    email: str,
    *,
    language: str,
    topics: list[str],
    wants_digest: bool,
    wants_alerts: bool,
    confirmed: bool,
    actor: Actor,
    settings: Settings,
    now: datetime,
    session: Session,
) -> Subscriber:
    """Add one reader: active at once when ``confirmed`` (they consented elsewhere),
    otherwise pending with a confirmation email queued. Raises a MailerError (bad
    address, language or topic; already listed)."""
    actor.require(Permission.READERS, session=session)
    choices = Choices(
        language=clean_language(language),
        wants_digest=wants_digest,
        wants_alerts=wants_alerts,
        topics=clean_topics(topics, vocabulary(settings.relevance_file)),
    )
    consent = Consent(
        at=now, form=f"admin-{actor.via}", text=ADMIN_CONFIRMED if confirmed else ADMIN_PENDING
    )
    added = add_by_admin(
        normalise_address(email),
        choices,
        consent,
        confirmed=confirmed,
        settings=settings,
        now=now,
        session=session,
    )
    session.flush()
    actor.record(
        "subscriber.add",
        target=f"subscriber:{added.id}",
        now=now,
        session=session,
        confirmed=confirmed,
    )
    return added


def import_file(
    data: bytes,
    *,
    source: str,
    confirmed: bool,
    dry_run: bool,
    on_row: Callable[[Row], None] | None = None,
    on_stored: Callable[[int, int], None] | None = None,
    actor: Actor,
    settings: Settings,
    now: datetime,
    session: Session,
) -> ImportReport:
    """Import a CSV file, all rows or none (raises a MailerError for the file as a whole).
    A ``dry_run`` checks every row and rolls the session back: nothing stored, nothing
    audited."""
    actor.require(Permission.READERS, session=session)
    report = import_subscribers(
        data,
        confirmed=confirmed,
        source=source,
        settings=settings,
        now=now,
        session=session,
        on_row=on_row,
        on_stored=on_stored,
    )
    if dry_run:
        session.rollback()
        return report
    actor.record(
        "subscribers.import",
        target=source,
        now=now,
        session=session,
        confirmed=confirmed,
        accepted=report.accepted,
        active=report.confirmed,
        rejected=len(report.rejected),
    )
    return report


def export(
    out: TextIO,
    *,
    status: str | None,
    target: str,
    actor: Actor,
    now: datetime,
    session: Session,
) -> int:
    """Write the readers (of ``status``, or all) with their consent records to ``out`` as
    CSV; the audit names where they went (``target``). Returns how many."""
    actor.require(Permission.EXPORT, session=session)
    query = select(Subscriber).order_by(Subscriber.id)
    if status is not None:
        query = query.where(Subscriber.status == status)
    rows = (
        [
            " ".join(sub.topics) if column == "topics" else getattr(sub, column)
            for column in EXPORT_COLUMNS
        ]
        for sub in session.scalars(query.execution_options(yield_per=1000))
    )
    count = write_csv(out, EXPORT_COLUMNS, rows)
    actor.record(
        "subscribers.export",
        target=target,
        now=now,
        session=session,
        status=status or "all",
        count=count,
    )
    return count


def _choices_detail(choices: Choices) -> dict[str, object]:
    return {
        "language": choices.language,
        "digest": choices.wants_digest,
        "alerts": choices.wants_alerts,
        "topics": list(choices.topics) or "all",
        **({} if choices.include_english is None else {"english": choices.include_english}),
    }


def change_choices(
    subscriber: Subscriber, choices: Choices, *, actor: Actor, now: datetime, session: Session
) -> None:
    """Give the reader these (already checked) choices, whatever their status; the change
    joins their consent history and the audit keeps before and after."""
    actor.require(Permission.READERS, session=session)
    before = choices_of(subscriber)
    apply_choices(subscriber, choices)
    session.flush()
    record_event(
        subscriber.id,
        CHANGED,
        Consent(now, f"admin-{actor.via}", CHOICES_CHANGED),
        choices,
        session=session,
    )
    actor.record(
        "subscriber.choices",
        target=f"subscriber:{subscriber.id}",
        now=now,
        session=session,
        before=_choices_detail(before),
        after=_choices_detail(choices),
    )


def suppress(subscriber: Subscriber, *, actor: Actor, now: datetime, session: Session) -> bool:
    """Stop all mail to the reader now, as an unsubscribe made by staff (queued mail is
    cancelled); False if they were already unsubscribed."""
    actor.require(Permission.READERS, session=session)
    was = subscriber.status
    changed = unsubscribe(subscriber, now=now, session=session, how=f"admin-{actor.via}")
    actor.record(
        "subscriber.suppress",
        target=f"subscriber:{subscriber.id}",
        now=now,
        session=session,
        was_status=was,
    )
    return changed


def suppressed_by_staff(subscriber: Subscriber, *, session: Session) -> bool:
    """Unsubscribed by an admin (``suppress``), not by the reader."""
    if subscriber.status != SubscriberStatus.UNSUBSCRIBED:
        return False
    withdrawals = [e for e in history(subscriber.id, session=session) if e.event == WITHDRAWN]
    return bool(withdrawals) and withdrawals[-1].form.startswith("admin-")


def may_allow_again(subscriber: Subscriber, *, session: Session) -> bool:
    """A confirmed reader whose address bounced, or whom staff suppressed. A reader who
    unsubscribed or complained comes back only by signing up and confirming again."""
    if subscriber.confirmed_at is None:
        return False
    if subscriber.status == SubscriberStatus.BOUNCED:
        return True
    return suppressed_by_staff(subscriber, session=session)


def allow_again(subscriber: Subscriber, *, actor: Actor, now: datetime, session: Session) -> None:
    """Make a bounced or staff-suppressed reader active again (``may_allow_again``);
    raises NotAllowedAgainError otherwise."""
    actor.require(Permission.READERS, session=session)
    if not may_allow_again(subscriber, session=session):
        raise NotAllowedAgainError(
            "Only the reader can come back: they sign up again and confirm from their mailbox."
        )
    was = subscriber.status
    restore(subscriber, now=now, how=f"admin-{actor.via}", note=SUPPRESSION_LIFTED, session=session)
    actor.record(
        "subscriber.allow",
        target=f"subscriber:{subscriber.id}",
        now=now,
        session=session,
        was_status=was,
    )


def remove(subscriber: Subscriber, *, actor: Actor, now: datetime, session: Session) -> None:
    """Erase the reader (subscribers.gdpr). The audit names the row id, not the address:
    the log must not keep what the erasure deleted."""
    actor.require(Permission.READERS, session=session)
    target = f"subscriber:{subscriber.id}"
    was = subscriber.status
    erase(subscriber, now=now, session=session)
    actor.record("subscriber.remove", target=target, now=now, session=session, was_status=was)


def purge(older_than: timedelta, *, actor: Actor, now: datetime, session: Session) -> int:
    """Delete signups never confirmed within ``older_than``; returns how many."""
    actor.require(Permission.READERS, session=session)
    count = purge_unconfirmed(now=now, older_than=older_than, session=session)
    actor.record(
        "subscribers.purge", now=now, session=session, older_than=str(older_than), deleted=count
    )
    return count
