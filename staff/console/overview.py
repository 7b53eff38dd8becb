"""What the dashboard reads: feed health, this week's items, readers by status, and the
campaigns with their delivery progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.alerts import suggestions
from mailer.feeds.health import Health, health_of
from mailer.feeds.registry import list_sources
from mailer.models import Campaign, Delivery, Erasure, Item, Source, Subscriber
from mailer.outbox.status import (
    OPEN_CAMPAIGN,
    REPORTED_SUBSCRIBER,
    CampaignStatus,
    DeliveryStatus,
)

DELIVERY_STATES = tuple(DeliveryStatus)
SETTLED_DELIVERY = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)
READER_STATES = REPORTED_SUBSCRIBER
OPEN = OPEN_CAMPAIGN
STATUS_LABELS: dict[str, str] = {
    CampaignStatus.DRAFT: "Awaiting approval",
    CampaignStatus.SCHEDULED: "Scheduled",
    CampaignStatus.SENDING: "Sending",
    CampaignStatus.PAUSED: "Paused",
    CampaignStatus.DONE: "Sent",
    CampaignStatus.CANCELLED: "Cancelled",
    CampaignStatus.EXPIRED: "Expired",
}


@dataclass(frozen=True)
class FeedRow:
    key: str
    title: str
    url: str
    state: str  # ok, warning, failing, disabled, new (``mailer.feeds.health``)
    items: int
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    failures: int
    empty_responses: int
    last_empty_at: datetime | None
    health: Health


def feed_row(source: Source, items: int) -> FeedRow:
    health = health_of(source)
    return FeedRow(
        key=source.key,
        title=source.title or source.key,
        url=source.url,
        state=health.state,
        items=items,
        last_success_at=source.last_success_at,
        last_error=source.last_error or source.disabled_reason or "",
        last_error_at=source.last_error_at,
        failures=source.consecutive_failures,
        empty_responses=source.empty_responses,
        last_empty_at=source.last_empty_at,
        health=health,
    )


def feed_health(*, session: Session) -> list[FeedRow]:
    return [feed_row(source, items) for source, items in list_sources(session=session)]


def failing_feeds(feeds: list[FeedRow]) -> list[FeedRow]:
    """The enabled feeds whose last poll failed: the dashboard's warning."""
    return [feed for feed in feeds if feed.state == "failing"]


def items_since(since: datetime, *, session: Session) -> dict[str, int]:
    """Items stored since ``since``: all of them, and the relevant ones."""
    total, relevant = session.execute(
        select(func.count(), func.count().filter(Item.relevant)).where(Item.fetched_at >= since)
    ).one()
    return {"total": int(total), "relevant": int(relevant or 0)}


def reader_counts(*, session: Session) -> dict[str, int]:
    """Readers by status (every status shown, zeros included), and erasures so far."""
    counts: dict[str, int] = dict.fromkeys(READER_STATES, 0)
    for status, n in session.execute(
        select(Subscriber.status, func.count()).group_by(Subscriber.status)
    ):
        counts[status] = int(n)
    counts["erased"] = int(session.scalar(select(func.count()).select_from(Erasure)) or 0)
    return counts


def active_reach(*, session: Session) -> dict[str, int]:
    """Active readers taking the digest, and those taking alerts."""
    digest, alerts = session.execute(
        select(
            func.count().filter(Subscriber.wants_digest),
            func.count().filter(Subscriber.wants_alerts),
        ).where(Subscriber.status == "active")
    ).one()
    return {"digest": int(digest or 0), "alerts": int(alerts or 0)}


@dataclass(frozen=True)
class CampaignRow:
    id: int
    kind: str
    key: str
    subject: str
    status: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def settled(self) -> int:
        return sum(self.counts[state] for state in SETTLED_DELIVERY)

    @property
    def open(self) -> bool:
        """Not finished: its expiry still matters."""
        return self.status in OPEN

    @property
    def live(self) -> bool:
        """Still moving: worth refreshing the page for."""
        return self.status == CampaignStatus.SENDING and self.total > self.settled


def counts_by_campaign(ids: list[int], *, session: Session) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {i: dict.fromkeys(DELIVERY_STATES, 0) for i in ids}
    if not ids:
        return found
    for campaign_id, status, n in session.execute(
        select(Delivery.campaign_id, Delivery.status, func.count())
        .where(Delivery.campaign_id.in_(ids))
        .group_by(Delivery.campaign_id, Delivery.status)
    ):
        found[campaign_id][status] = int(n)
    return found


def campaign_rows(
    *, session: Session, limit: int = 50, kinds: tuple[str, ...] = ("alert", "digest")
) -> list[CampaignRow]:
    """The newest alerts and digest issues (not the one-reader emails) with progress."""
    campaigns = list(
        session.scalars(
            select(Campaign)
            .where(Campaign.kind.in_(kinds))
            .order_by(Campaign.created_at.desc(), Campaign.id.desc())
            .limit(limit)
        )
    )
    counts = counts_by_campaign([c.id for c in campaigns], session=session)
    return [row_of(c, counts[c.id]) for c in campaigns]


def row_of(campaign: Campaign, counts: dict[str, int]) -> CampaignRow:
    return CampaignRow(
        id=campaign.id,
        kind=campaign.kind,
        key=campaign.key,
        subject=campaign.subject,
        status=campaign.status,
        label=STATUS_LABELS.get(campaign.status, campaign.status),
        created_at=campaign.created_at,
        expires_at=campaign.expires_at,
        counts=counts,
    )


def drafts_awaiting(*, now: datetime, session: Session) -> list[Campaign]:
    """Alerts waiting for approval that can still be approved."""
    return list(
        session.scalars(
            select(Campaign)
            .where(
                Campaign.kind == "alert",
                Campaign.status == CampaignStatus.DRAFT,
                Campaign.expires_at > now,
            )
            .order_by(Campaign.created_at.desc())
        )
    )


@dataclass(frozen=True)
class Suggestion:
    id: int
    title: str
    url: str
    source: str
    published_at: datetime


def suggested(now: datetime, *, session: Session) -> list[Suggestion]:
    """``mailer.alerts.suggestions`` with what the page shows, read while the session is open."""
    return [
        Suggestion(i.id, i.title, i.url, i.source.title or i.source.key, i.published_at)
        for i in suggestions(now=now, session=session)
    ]


def week_ago(now: datetime) -> datetime:
    return now - timedelta(days=7)


def summary(now: datetime, *, session: Session) -> dict[str, Any]:
    """Everything the dashboard shows apart from the digest plan and the service health."""
    feeds = feed_health(session=session)
    return {
        "feeds": feeds,
        "failing_feeds": failing_feeds(feeds),
        "items": items_since(week_ago(now), session=session),
        "readers": reader_counts(session=session),
        "reach": active_reach(session=session),
        "campaigns": campaign_rows(session=session, limit=8),
        "drafts": drafts_awaiting(now=now, session=session),
        "suggestions": suggested(now, session=session),
    }
