"""Consent records: the exact words a reader agreed to, when, on which form, from where.

The sentence shown on the form is defined here and stored as shown, so the record proves
what was agreed even after the wording changes (R2P_CONSENT_FORM_VERSION says which form).

Every consent event is kept, in order, in ``consent_events`` (append-only: rows are only
ever added, and deleted with the reader or, for a signup request nobody confirmed, by the
purge). A signup is a *request* there until its confirmation link is used; the columns on
``subscribers`` hold the latest consent that took effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.i18n import N_
from mailer.models import ConsentEvent, Subscriber
from subscribers.choices import Choices

FORM_SENTENCE = N_(
    "I want to receive the R2P news emails I chose above at this address. I can change "
    "what I receive or unsubscribe at any time with the link in every email. My address, "
    "my choices and a record of this consent (date, IP address and browser) are kept for "
    "that purpose only and never shared."
)
ADMIN_PENDING = "Added by an admin; the reader is asked to confirm by email before any mailing."
ADMIN_CONFIRMED = "Added by an admin who states that the reader consented elsewhere."

SIGNUP = "signup"  # a request from the form, not a consent until confirmed
CONFIRMED = "confirmed"
ADMIN = "admin"
WITHDRAWN = "withdrawn"
CHANGED = "changed"  # staff changed the reader's choices (at their request)
RESTORED = "restored"  # staff lifted a suppression (bounced, or suppressed by staff)


@dataclass(frozen=True)
class Consent:
    at: datetime
    form: str
    text: str
    ip: str = ""
    user_agent: str = ""

    def record_on(self, subscriber: Subscriber) -> None:
        """Make this the reader's current consent (the summary on their row)."""
        subscriber.consent_at = self.at
        subscriber.consent_form = self.form[:64]
        subscriber.consent_text = self.text
        subscriber.consent_ip = self.ip[:64]
        subscriber.consent_user_agent = self.user_agent[:500]

    @classmethod
    def of(cls, event: ConsentEvent) -> Consent:
        return cls(event.at, event.form, event.text, event.ip, event.user_agent)


def record_event(
    subscriber_id: int,
    event: str,
    consent: Consent,
    choices: Choices,
    *,
    session: Session,
    request_id: int | None = None,
) -> ConsentEvent:
    """Append one event to the reader's consent history."""
    row = new_event(subscriber_id, event, consent, choices, request_id=request_id)
    session.add(row)
    session.flush()
    return row


def new_event(
    subscriber_id: int,
    event: str,
    consent: Consent,
    choices: Choices,
    *,
    request_id: int | None = None,
) -> ConsentEvent:
    """One consent-history event, not yet added to a session (imports add many at once)."""
    return ConsentEvent(
        subscriber_id=subscriber_id,
        event=event,
        at=consent.at,
        form=consent.form[:64],
        text=consent.text,
        ip=consent.ip[:64],
        user_agent=consent.user_agent[:500],
        language=choices.language,
        wants_digest=choices.wants_digest,
        wants_alerts=choices.wants_alerts,
        topics=list(choices.topics),
        request_id=request_id,
    )


def open_request(subscriber_id: int, *, session: Session) -> ConsentEvent | None:
    """The signup request waiting for its confirmation: the reader's latest event, if that
    is a request (a later confirmation, resubscription or unsubscribe closes it; staff
    changing their choices does not)."""
    latest = session.scalar(
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber_id, ConsentEvent.event != CHANGED)
        .order_by(ConsentEvent.id.desc())
        .limit(1)
    )
    return latest if latest is not None and latest.event == SIGNUP else None


def history(subscriber_id: int, *, session: Session) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subscriber_id == subscriber_id)
            .order_by(ConsentEvent.id)
        )
    )
