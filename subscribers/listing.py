"""Readers as staff browse them: a page of the list, found by part of the address and
narrowed by status, topic, language and what they receive; one reader's mail (what
was sent to them, what failed and why); and the reports that came back about it
(bounces, complaints: ``mail_reports``), with the one that suppressed them.

A topic filter also finds readers who follow everything (an empty topic list), since they
get that topic too. Tags are compared as they are stored: the JSON list's text holds each
tag in double quotes, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, cast, func, or_, select
from sqlalchemy.orm import Session

from mailer.models import Campaign, Delivery, MailReport, Subscriber

PER_PAGE = 50
MAIL_SHOWN = 50
REPORTS_SHOWN = 20
# The decisions that suppress a reader: the report that gives the reason.
SUPPRESSING = ("hard", "complaint")
RECEIVES = ("digest", "alerts")


@dataclass(frozen=True)
class ReaderFilter:
    """What the list is narrowed to; an empty field narrows nothing."""

    text: str = ""  # part of the address, any case
    status: str = ""
    topic: str = ""
    language: str = ""
    receives: str = ""  # "digest" or "alerts"


@dataclass(frozen=True)
class ReaderPage:
    readers: list[Subscriber]
    total: int
    page: int  # from 1
    pages: int


def _conditions(wanted: ReaderFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if wanted.text.strip():
        part = wanted.text.strip().lower()
        conditions.append(func.lower(Subscriber.email).contains(part, autoescape=True))
    if wanted.status:
        conditions.append(Subscriber.status == wanted.status)
    if wanted.language:
        conditions.append(Subscriber.language == wanted.language)
    if wanted.topic:
        stored = cast(Subscriber.topics, String)
        conditions.append(
            or_(stored.contains(f'"{wanted.topic}"', autoescape=True), stored == "[]")
        )
    if wanted.receives == "digest":
        conditions.append(Subscriber.wants_digest.is_(True))
    elif wanted.receives == "alerts":
        conditions.append(Subscriber.wants_alerts.is_(True))
    return conditions


def find_readers(
    wanted: ReaderFilter, *, page: int = 1, per_page: int = PER_PAGE, session: Session
) -> ReaderPage:
    """One page of the readers ``wanted`` describes, by address; a page past the end
    gives the last one."""
    conditions = _conditions(wanted)
    total = session.scalar(select(func.count()).select_from(Subscriber).where(*conditions)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    readers = session.scalars(
        select(Subscriber)
        .where(*conditions)
        .order_by(Subscriber.email)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return ReaderPage(list(readers), total, page, pages)


@dataclass(frozen=True)
class MailRow:
    """One delivery to the reader, with its campaign."""

    campaign_id: int
    kind: str
    subject: str
    status: str
    attempts: int
    sent_at: datetime | None
    created_at: datetime
    last_reply: str


def mail_of(subscriber_id: int, *, limit: int = MAIL_SHOWN, session: Session) -> list[MailRow]:
    """The reader's latest deliveries, newest first."""
    rows = session.execute(
        select(
            Campaign.id,
            Campaign.kind,
            Campaign.subject,
            Delivery.status,
            Delivery.attempts,
            Delivery.sent_at,
            Delivery.created_at,
            Delivery.last_reply,
        )
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(limit)
    )
    return [MailRow(*row) for row in rows]


def mail_count(subscriber_id: int, *, session: Session) -> int:
    """How many deliveries the reader has, all campaigns."""
    query = select(func.count()).select_from(Delivery)
    return session.scalar(query.where(Delivery.subscriber_id == subscriber_id)) or 0


@dataclass(frozen=True)
class ReportRow:
    """One report about mail to the reader (``mail_reports``), with its campaign."""

    id: int
    received_at: datetime
    via: str
    kind: str
    decision: str
    status_code: str
    diagnostic: str
    recipient: str
    raw: str
    campaign_id: int | None
    subject: str | None


def reports_of(
    subscriber_id: int, *, limit: int = REPORTS_SHOWN, session: Session
) -> list[ReportRow]:
    """The latest reports about the reader's mail, newest first."""
    rows = session.execute(
        select(
            MailReport.id,
            MailReport.received_at,
            MailReport.via,
            MailReport.kind,
            MailReport.decision,
            MailReport.status_code,
            MailReport.diagnostic,
            MailReport.recipient,
            MailReport.raw,
            MailReport.campaign_id,
            Campaign.subject,
        )
        .outerjoin(Campaign, Campaign.id == MailReport.campaign_id)
        .where(MailReport.subscriber_id == subscriber_id)
        .order_by(MailReport.received_at.desc(), MailReport.id.desc())
        .limit(limit)
    )
    return [ReportRow(*row) for row in rows]


def suppressed_by(reports: list[ReportRow]) -> ReportRow | None:
    """The newest report that bounced the reader or was their complaint, if any."""
    return next((r for r in reports if r.decision in SUPPRESSING), None)
