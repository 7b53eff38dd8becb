"""The admin actions the console and the JSON API share, each audited under the same
name as its CLI twin (mailer/admin_cli.py): alert.create, alert.test, alert.approve,
alert.cancel, subscriber.remove.

Like data functions they take the session and never commit; the caller commits, then
wakes the delivery worker (after the commit, or it would find nothing to send).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailer.admins import audit
from mailer.alerts import ApprovalResult, Draft, approve, create_alert
from mailer.config import Settings
from mailer.models import Campaign, Subscriber
from mailer.outbox.campaigns import cancel
from mailer.sending import SendResult, make_sender
from subscribers.gdpr import erase


@dataclass(frozen=True)
class Actor:
    """Who did it and from where, as the audit log records it."""

    email: str
    ip: str
    via: str  # "web" or "api"


def create(
    draft: Draft, *, actor: Actor, expires_in: timedelta, now: datetime, session: Session
) -> Campaign:
    """A draft alert (validated: raises AlertError with the reason)."""
    campaign = create_alert(draft, by=actor.email, expires_in=expires_in, now=now, session=session)
    audit(
        actor.email,
        "alert.create",
        target=campaign.key,
        ip=actor.ip,
        now=now,
        session=session,
        via=actor.via,
    )
    return campaign


def approve_alert(
    campaign: Campaign, *, actor: Actor, settings: Settings, now: datetime, session: Session
) -> ApprovalResult:
    """Record the approval; with enough of them the alert is queued in this transaction.
    Raises AlertError (same admin twice) or CampaignStateError (not a draft, expired)."""
    result = approve(campaign, by=actor.email, settings=settings, now=now, session=session)
    audit(
        actor.email,
        "alert.approve",
        target=campaign.key,
        ip=actor.ip,
        now=now,
        session=session,
        queued=result.queued,
        via=actor.via,
    )
    return result


def cancel_alert(campaign: Campaign, *, actor: Actor, now: datetime, session: Session) -> int:
    """Stop the alert, even mid-send; returns the deliveries dropped."""
    cancelled = cancel(campaign, now=now, session=session)
    audit(
        actor.email,
        "alert.cancel",
        target=campaign.key,
        ip=actor.ip,
        now=now,
        session=session,
        cancelled=cancelled,
        via=actor.via,
    )
    return cancelled


def record_test(
    campaign: Campaign, result: SendResult, *, actor: Actor, now: datetime, session: Session
) -> None:
    audit(
        actor.email,
        "alert.test",
        target=campaign.key,
        ip=actor.ip,
        now=now,
        session=session,
        verdict=result.verdict,
        via=actor.via,
    )


def envelope_sender(settings: Settings) -> str:
    return settings.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()


async def send_test(settings: Settings, to: str, message: bytes) -> SendResult:
    """Send one prebuilt test message through the configured transport (SMTP or Maildir)."""
    sender = make_sender(settings)
    try:
        return await sender.send(envelope_sender(settings), to, message)
    finally:
        await sender.aclose()


def remove_subscriber(
    subscriber: Subscriber, *, actor: Actor, now: datetime, session: Session
) -> None:
    """Erase the reader (subscribers.gdpr). The audit names the row id, not the address:
    the log must not keep what the erasure deleted."""
    target = f"subscriber:{subscriber.id}"
    was = subscriber.status
    erase(subscriber, now=now, session=session)
    audit(
        actor.email,
        "subscriber.remove",
        target=target,
        ip=actor.ip,
        now=now,
        session=session,
        was_status=was,
        via=actor.via,
    )
