"""The reader's rights over their data: a copy of everything we hold (JSON), and erasure.

Erasure deletes the subscriber row (their deliveries go with it, ON DELETE CASCADE) and
the one-reader emails sent to them, and keeps only an anonymous ``erasures`` row (the day
and the status they had) so the organisation can count departures. Reports about their
mail (``mail_reports``: bounces, complaints) keep only what campaign reports count (kind,
decision, status code, campaign): the address, the raw report and the link to the reader
go.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.orm import Session

from mailer.models import Campaign, Delivery, Erasure, MailReport, Subscriber
from subscribers.consent import history

ERASED = "[erased]"


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_data(subscriber: Subscriber, *, session: Session) -> dict[str, Any]:
    """Everything stored about the reader, in a form they can read and keep."""
    rows = session.execute(
        select(Campaign.kind, Campaign.subject, Delivery.status, Delivery.sent_at)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.subscriber_id == subscriber.id)
        .order_by(Delivery.created_at, Delivery.id)
    )
    return {
        "email": subscriber.email,
        "status": subscriber.status,
        "language": subscriber.language,
        "weekly_digest": subscriber.wants_digest,
        "urgent_alerts": subscriber.wants_alerts,
        "topics": list(subscriber.topics) or "everything",
        "signed_up_at": _when(subscriber.created_at),
        "confirmed_at": _when(subscriber.confirmed_at),
        "unsubscribed_at": _when(subscriber.unsubscribed_at),
        "hard_bounces": subscriber.hard_bounces,
        "consent": {
            "at": _when(subscriber.consent_at),
            "form": subscriber.consent_form,
            "text": subscriber.consent_text,
            "ip": subscriber.consent_ip,
            "user_agent": subscriber.consent_user_agent,
        },
        "consent_history": [
            {
                "event": event.event,
                "at": _when(event.at),
                "form": event.form,
                "text": event.text,
                "ip": event.ip,
                "user_agent": event.user_agent,
                "language": event.language,
                "weekly_digest": event.wants_digest,
                "urgent_alerts": event.wants_alerts,
                "topics": list(event.topics) or "everything",
            }
            for event in history(subscriber.id, session=session)
        ],
        "emails": [
            {"kind": kind, "subject": subject, "status": status, "sent_at": _when(sent_at)}
            for kind, subject, status, sent_at in rows
        ],
    }


def drop_orphaned_transactional(*, session: Session) -> int:
    """One-reader campaigns whose reader is gone (their deliveries cascaded away)."""
    has_delivery = exists().where(Delivery.campaign_id == Campaign.id)
    result = session.execute(
        delete(Campaign)
        .where(Campaign.kind == "transactional", ~has_delivery)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def forget_reports(ids: list[int], *, session: Session) -> int:
    """Strip these readers from the reports about their mail: those linked to them and
    those that name their address. Returns how many were changed."""
    addresses = [
        a.lower() for a in session.scalars(select(Subscriber.email).where(Subscriber.id.in_(ids)))
    ]
    reports = list(
        session.scalars(
            select(MailReport).where(
                or_(
                    MailReport.subscriber_id.in_(ids),
                    func.lower(MailReport.recipient).in_(addresses),
                )
            )
        )
    )
    for report in reports:
        report.subscriber_id = None
        report.delivery_id = None
        report.recipient = ""
        report.raw = ""
        report.dedupe_key = None
        for address in addresses:
            report.diagnostic = re.sub(re.escape(address), ERASED, report.diagnostic, flags=re.I)
    session.flush()
    return len(reports)


def delete_subscribers(ids: Iterable[int], *, session: Session) -> int:
    """Delete the readers, what cascades with them, and their trace in mail reports."""
    wanted = list(ids)
    if not wanted:
        return 0
    forget_reports(wanted, session=session)
    result = session.execute(
        delete(Subscriber)
        .where(Subscriber.id.in_(wanted))
        .execution_options(synchronize_session=False)
    )
    drop_orphaned_transactional(session=session)
    return int(result.rowcount)  # type: ignore[attr-defined]


def erase(subscriber: Subscriber, *, now: datetime, session: Session) -> None:
    """Delete the reader's personal data for good, keeping an anonymous count."""
    session.add(Erasure(erased_at=now, was_status=subscriber.status))
    delete_subscribers([subscriber.id], session=session)
    session.expunge(subscriber)
