"""Campaign lifecycle, the first stage of the outbox: a campaign is created as a draft,
approved (``start``: from then on workers may claim its deliveries), paused and resumed,
and ends done (``finish_campaigns``), cancelled by an admin or expired by the clock.
Stopping a campaign cancels its queued deliveries; rows in flight still settle truthfully.

Data functions take ``session`` keyword-only and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session

from mailer.errors import MailerError
from mailer.feeds.sanitise import one_line
from mailer.models import Campaign, Delivery
from mailer.outbox.ledger import cancel_queued_where
from mailer.outbox.status import (
    ACTIVE_DELIVERY,
    FINISHED_CAMPAIGN,
    OPEN_CAMPAIGN,
    CampaignStatus,
    Priority,
)


class CampaignStateError(MailerError):
    """The campaign is not in a state that allows this action."""


def get_or_create_campaign(
    *,
    kind: str,
    key: str,
    template: str,
    session: Session,
    subject: str = "",
    context: dict[str, Any] | None = None,
    priority: int = Priority.DIGEST,
    expires_at: datetime | None = None,
    created_by: str = "",
) -> tuple[Campaign, bool]:
    """The campaign with this unique key, created as a draft if new; (campaign, created)."""
    existing = session.scalar(select(Campaign).where(Campaign.key == key))
    if existing is not None:
        return existing, False
    campaign = Campaign(
        kind=kind,
        key=key,
        template=template,
        subject=one_line(subject)[:500],
        context=context or {},
        status=CampaignStatus.DRAFT,
        priority=priority,
        expires_at=expires_at,
        created_by=created_by,
    )
    session.add(campaign)
    session.flush()
    return campaign, True


def lock_campaign(campaign: Campaign, *, session: Session) -> None:
    """Hold the campaign row until this transaction ends, and reload it, so that a check
    of its state and the change that follows cannot interleave with another admin's.

    PostgreSQL locks the row (SELECT ... FOR UPDATE). SQLite has no row locks and ignores
    FOR UPDATE, and its driver reads outside a transaction, so a no-op UPDATE first takes
    the database's write lock: everything read after it is current until the commit.
    """
    session.flush()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(id=Campaign.id)
            .execution_options(synchronize_session=False)
        )
    session.refresh(campaign, with_for_update=True)


def _require_status(campaign: Campaign, wanted: CampaignStatus, as_said: str) -> None:
    if campaign.status != wanted:
        raise CampaignStateError(f"campaign {campaign.key} is {campaign.status}, not {as_said}")


def start(campaign: Campaign, *, by: str, now: datetime, session: Session) -> None:
    """Approve a draft (or start an alert scheduled for now): from now on workers may
    claim its deliveries. A campaign made in this transaction needs no lock; approving one
    admins can see does (``mailer.alerts.approve`` takes it with ``lock_campaign`` before
    its checks)."""
    if campaign.status != CampaignStatus.SCHEDULED:
        _require_status(campaign, CampaignStatus.DRAFT, "a draft")
    if campaign.expires_at is not None and campaign.expires_at <= now:
        raise CampaignStateError(f"campaign {campaign.key} expired at {campaign.expires_at}")
    campaign.status = CampaignStatus.SENDING
    campaign.approved_at = now
    campaign.approved_by = by
    session.flush()


def pause(campaign: Campaign, *, session: Session) -> None:
    """Stop workers claiming the campaign's rows until ``resume``."""
    lock_campaign(campaign, session=session)
    _require_status(campaign, CampaignStatus.SENDING, "sending")
    campaign.status = CampaignStatus.PAUSED
    session.flush()


def resume(campaign: Campaign, *, session: Session) -> None:
    """Let workers claim a paused campaign's rows again."""
    lock_campaign(campaign, session=session)
    _require_status(campaign, CampaignStatus.PAUSED, "paused")
    campaign.status = CampaignStatus.SENDING
    session.flush()


def cancel(campaign: Campaign, *, now: datetime, session: Session) -> int:
    """Stop a campaign: queued rows are cancelled; rows in flight still settle truthfully."""
    lock_campaign(campaign, session=session)
    if campaign.status in FINISHED_CAMPAIGN:
        raise CampaignStateError(f"campaign {campaign.key} is already {campaign.status}")
    campaign.status = CampaignStatus.CANCELLED
    campaign.finished_at = now
    return cancel_queued_where(
        Delivery.campaign_id == campaign.id, "cancelled by an admin", session=session
    )


def expire_campaigns(*, now: datetime, session: Session) -> dict[str, int]:
    """Campaigns past their expiry: cancel what is unsent. Returns {campaign key: cancelled}."""
    expired = list(
        session.scalars(
            select(Campaign).where(Campaign.expires_at <= now, Campaign.status.in_(OPEN_CAMPAIGN))
        )
    )
    report = {}
    for campaign in expired:
        campaign.status = CampaignStatus.EXPIRED
        campaign.finished_at = now
        report[campaign.key] = cancel_queued_where(
            Delivery.campaign_id == campaign.id, "expired before it could be sent", session=session
        )
    return report


def finish_campaigns(campaign_ids: Iterable[int], *, now: datetime, session: Session) -> int:
    """Mark running campaigns with nothing queued or in flight as done."""
    ids = list(set(campaign_ids))
    if not ids:
        return 0
    pending = exists().where(
        and_(Delivery.campaign_id == Campaign.id, Delivery.status.in_(ACTIVE_DELIVERY))
    )
    result = session.execute(
        update(Campaign)
        .where(Campaign.id.in_(ids), Campaign.status == CampaignStatus.SENDING, ~pending)
        .values(status=CampaignStatus.DONE, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
