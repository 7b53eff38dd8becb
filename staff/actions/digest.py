"""The weekly digest as staff send it by hand: create, approve and queue the week's issue
(once per week whatever happens), audited as digest.send. Previews change nothing and
are not audited. The session is never committed here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.digest import Issued, issue
from staff.actions.actor import Actor


def send(
    period: str | None, *, actor: Actor, settings: Settings, now: datetime, session: Session
) -> Issued:
    """Issue the digest of ``period`` (an ISO week, default this week): nothing new when
    it exists already. Safe to run again after a rollback (``mailer.db.run_with_retry``)."""
    issued = issue(settings=settings, period=period, by=actor.email, session=session)
    actor.record(
        "digest.send",
        target=issued.campaign.key if issued.campaign is not None else issued.plan.period,
        now=now,
        session=session,
        created=issued.campaign is not None,
        queued=issued.queued,
    )
    return issued
