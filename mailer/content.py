"""What a campaign says to one segment of readers: the rendered subject, text and HTML.

Digests build their sections per segment (topics); every other campaign renders its
template with the context stored on the campaign.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.digest import digest_context
from mailer.email.render import RenderedEmail, render_email
from mailer.models import Campaign


def render_campaign(
    campaign: Campaign, segment: str, *, settings: Settings, session: Session
) -> RenderedEmail:
    common = {"base_url": settings.base_url, "subject": campaign.subject}
    if campaign.kind == "digest":
        ctx = digest_context(campaign, segment, settings=settings, session=session)
        return render_email(campaign.template, {**common, **ctx})
    return render_email(campaign.template, {**common, **campaign.context})
