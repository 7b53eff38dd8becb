"""What a campaign says to the readers of each of its contents: the rendered subject, text
and HTML, once per content key.

Digests render the items stored for each content (``campaign_contents``), all contents a
worker needs loaded in two queries; an alert renders once per language (its content key:
the translation staff wrote, else the original with a line saying so,
``mailer.alert_versions``); every other campaign renders its template with the context
stored on the campaign.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.alert_versions import translations_of, version_context
from mailer.config import Settings
from mailer.digest import digest_rendering, legacy_segment_topics
from mailer.digest_content import ContentPlanner, load_entries, week_stories
from mailer.email.render import RenderedEmail, render_email, site_context
from mailer.models import Campaign, CampaignContent


def _digest_contents(
    campaign: Campaign, keys: set[str], *, session: Session
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The language and item ids (in reading order) behind each content key of a digest."""
    rows = session.execute(
        select(CampaignContent.key, CampaignContent.language, CampaignContent.item_ids).where(
            CampaignContent.campaign_id == campaign.id, CampaignContent.key.in_(keys)
        )
    )
    found = {key: (language, tuple(ids)) for key, language, ids in rows}
    legacy = [key for key in keys - found.keys() if "|" in key]
    if legacy:
        week = load_entries(campaign.context["item_ids"], session=session)
        planner = ContentPlanner(week_stories(week))
        for key in legacy:
            found[key] = ("en", planner.select(legacy_segment_topics(key) or ()))
    return found


def render_contents(
    campaign: Campaign, keys: Iterable[str], *, settings: Settings, session: Session
) -> dict[str, RenderedEmail]:
    """Each content key's email (reader slots left open); a key the campaign does not
    have is missing from the answer."""
    wanted = set(keys)
    if campaign.kind == "alert":
        translations = translations_of(campaign.id, session=session)
        site = site_context(settings)
        return {
            key: render_email(
                campaign.template, {**site, **version_context(campaign, key, translations)}
            )
            for key in wanted
        }
    if campaign.kind != "digest":
        rendered = render_email(
            campaign.template,
            {**site_context(settings), "subject": campaign.subject, **campaign.context},
        )
        return dict.fromkeys(wanted, rendered)
    contents = _digest_contents(campaign, wanted, session=session)
    entries = load_entries({i for _, ids in contents.values() for i in ids}, session=session)
    return {
        key: digest_rendering(campaign, ids, entries, settings=settings, language=language)
        for key, (language, ids) in contents.items()
    }


def render_campaign(
    campaign: Campaign, key: str, *, settings: Settings, session: Session
) -> RenderedEmail:
    """One content's email (previews of alerts and transactional mail use any key)."""
    return render_contents(campaign, [key], settings=settings, session=session)[key]
