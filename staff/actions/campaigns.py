"""Campaigns as staff restart them: resume a paused alert or digest issue (one that
paused itself on policy refusals, ``mailer.bounces.record``). Audited; never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailer.db import get_by_id
from mailer.models import Campaign
from mailer.outbox import campaigns
from mailer.outbox.campaigns import CampaignStateError
from mailer.roles import Permission
from staff.actions.actor import Actor

RESUME_ACTION = "campaign.resume"  # also where policy refusals start counting again


def resume(campaign_id: int, *, actor: Actor, now: datetime, session: Session) -> Campaign:
    """Let workers send a paused campaign's rows again; raises CampaignStateError when
    there is no such campaign or it is not paused. Its policy refusals count from zero
    again (``mailer.bounces.record`` counts those after the latest resume)."""
    actor.require(Permission.SEND, session=session)
    campaign = get_by_id(Campaign, campaign_id, session=session)
    if campaign is None:
        raise CampaignStateError(f"no campaign {campaign_id}")
    campaigns.resume(campaign, session=session)
    actor.record(RESUME_ACTION, target=f"campaign:{campaign.id}", now=now, session=session)
    return campaign
