"""The weekly digest: one campaign per ISO week (``digest:2026-W48``) built from the
relevant items ingested since the previous issue's cutoff, sent per topic segment. What
runs it weekly is ``jobs/schedule.py``; this module is its content and its campaign.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.audience import matching_readers
from mailer.config import Settings
from mailer.email.render import RenderedEmail, preview_values, render_email
from mailer.feeds.sanitise import shorten
from mailer.models import Campaign, Item, Source
from mailer.outbox import PRIORITY_DIGEST, enqueue, get_or_create_campaign, start

SUMMARY_CHARS = 220
_SYMBOL = re.compile(r"^un-press:([a-z]+)\d")


@dataclass(frozen=True)
class Section:
    key: str
    title: str


# Global Centre first, then the UN organs, then UN News.
SECTIONS = (
    Section("global-centre", "Global Centre for R2P: atrocity alerts and publications"),
    Section("security-council", "UN Security Council"),
    Section("general-assembly", "UN General Assembly"),
    Section("human-rights-council", "UN Human Rights Council"),
    Section("secretary-general", "UN Secretary-General"),
    Section("un-press", "Other UN meetings and press releases"),
    Section("un-news", "UN News"),
)
_PRESS_SECTIONS = {
    "sc": "security-council",
    "ga": "general-assembly",
    "hrc": "human-rights-council",
    "sgsm": "secretary-general",
    "sg": "secretary-general",
}


@dataclass(frozen=True)
class DigestPlan:
    period: str
    since: datetime
    until: datetime
    item_ids: list[int]


def iso_period(when: datetime, timezone: str = "UTC") -> str:
    """The ISO week of ``when`` as the readers' calendar (R2P_DIGEST_TIMEZONE) has it."""
    year, week, _ = when.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year}-W{week:02d}"


def campaign_key(period: str) -> str:
    return f"digest:{period}"


def segment_for(language: str, topics: list[str]) -> str:
    return f"{language}|{','.join(sorted(set(topics))) or '*'}"


def segment_topics(segment: str) -> set[str] | None:
    """The topics a segment asked for; None means everything."""
    topics = segment.split("|", 1)[1]
    return None if topics == "*" else set(topics.split(","))


def item_topics(tags: dict[str, Any]) -> set[str]:
    topics = set(tags.get("crimes", [])) | set(tags.get("countries", []))
    if tags.get("r2p"):
        topics.add("r2p")
    return topics


def section_of(item: Item, source: Source) -> str:
    if source.always_relevant or source.key.startswith("globalr2p"):
        return "global-centre"
    if match := _SYMBOL.match(item.dedupe_key):
        return _PRESS_SECTIONS.get(match.group(1), "un-press")
    return "un-news"


def previous_cutoff(*, session: Session, before: str) -> datetime | None:
    """The 'until' of the latest digest issued before this period."""
    latest = session.scalar(
        select(Campaign)
        .where(Campaign.kind == "digest", Campaign.key < campaign_key(before))
        .order_by(Campaign.key.desc())
        .limit(1)
    )
    if latest is None:
        return None
    return datetime.fromisoformat(latest.context["until"])


def plan_digest(
    *, now: datetime, session: Session, period: str | None = None, timezone: str = "UTC"
) -> DigestPlan:
    """Which items the issue for ``period`` (default: this week in ``timezone``) would carry."""
    period = period or iso_period(now, timezone)
    since = previous_cutoff(session=session, before=period) or now - timedelta(days=7)
    ids = list(
        session.scalars(
            select(Item.id)
            .where(Item.relevant, Item.fetched_at > since, Item.fetched_at <= now)
            .order_by(Item.published_at.desc(), Item.id.desc())
        )
    )
    return DigestPlan(period=period, since=since, until=now, item_ids=ids)


def digest_subject(plan: DigestPlan) -> str:
    count = len(plan.item_ids)
    return f"R2P weekly digest {plan.period}: {count} new item{'s' if count != 1 else ''}"


def plan_context(plan: DigestPlan) -> dict[str, Any]:
    return {
        "period": plan.period,
        "since": plan.since.isoformat(),
        "until": plan.until.isoformat(),
        "item_ids": plan.item_ids,
    }


def _recipients(*, session: Session, week_topics: set[str]) -> Iterator[tuple[int, str]]:
    """(subscriber id, segment) for every active digest reader with something to read."""
    for subscriber_id, language, topics in matching_readers(
        wanting="digest", topics=week_topics, session=session
    ):
        yield subscriber_id, segment_for(language, topics)


def create_digest(
    plan: DigestPlan, *, settings: Settings, session: Session, by: str = "scheduler"
) -> tuple[Campaign | None, int, str]:
    """Create, approve and enqueue the issue in one transaction.

    Returns (campaign or None, deliveries queued, what happened in words).
    """
    key = campaign_key(plan.period)
    if session.scalar(select(Campaign.id).where(Campaign.key == key)) is not None:
        return None, 0, f"{key} already exists: nothing to do"
    if not plan.item_ids:
        return None, 0, f"no new relevant items since {plan.since:%Y-%m-%d %H:%M} UTC: no issue"
    week_topics: set[str] = set()
    for tags in session.scalars(select(Item.tags).where(Item.id.in_(plan.item_ids))):
        week_topics |= item_topics(tags)
    recipients = _recipients(session=session, week_topics=week_topics)
    first = next(recipients, None)
    if first is None:
        # The items roll into the next issue: its cutoff is the last issue actually made.
        return None, 0, f"no reader's topics match the {len(plan.item_ids)} new items: no issue"
    count = len(plan.item_ids)
    campaign, _ = get_or_create_campaign(
        kind="digest",
        key=key,
        template="digest",
        subject=digest_subject(plan),
        context=plan_context(plan),
        priority=PRIORITY_DIGEST,
        created_by=by,
        session=session,
    )
    start(campaign, by=by, now=plan.until, session=session)
    queued = enqueue(
        campaign,
        itertools.chain([first], recipients),
        deadline_at=plan.until + settings.retry_for,
        now=plan.until,
        session=session,
    )
    return campaign, queued, f"{key}: {count} items, {queued} deliveries queued"


def digest_context(
    campaign: Campaign,
    segment: str,
    *,
    settings: Settings,
    session: Session,
    limit: int | None = None,
) -> dict[str, Any]:
    """Sections for one segment; readers with topics only see matching items. Sections
    stop at ``limit`` items (default R2P_DIGEST_SECTION_LIMIT) and link to the rest."""
    wanted = segment_topics(segment)
    rows = session.execute(
        select(Item, Source)
        .join(Source, Source.id == Item.source_id)
        .where(Item.id.in_(campaign.context["item_ids"]))
        .order_by(Item.published_at.desc(), Item.id.desc())
    )
    grouped: dict[str, list[dict[str, Any]]] = {s.key: [] for s in SECTIONS}
    for item, source in rows:
        if wanted is not None and not wanted & item_topics(item.tags):
            continue
        grouped[section_of(item, source)].append(
            {
                "title": item.title,
                "url": item.url or f"{settings.base_url}/archive/{campaign.key}",
                "source": source.title or source.key,
                "published_at": item.published_at,
                "summary": shorten(item.summary_text, SUMMARY_CHARS),
            }
        )
    limit = limit or settings.digest_section_limit
    archive = f"{settings.base_url}/archive/{campaign.key}"
    sections = [
        {
            "key": s.key,
            "title": s.title,
            "items": grouped[s.key][:limit],
            "more": max(len(grouped[s.key]) - limit, 0),
            "more_url": f"{archive}#{s.key}",
        }
        for s in SECTIONS
        if grouped[s.key]
    ]
    total = sum(len(v) for v in grouped.values())
    since = datetime.fromisoformat(campaign.context["since"]).astimezone(UTC)
    until = datetime.fromisoformat(campaign.context["until"]).astimezone(UTC)
    return {
        "period": campaign.context["period"],
        "since": since,
        "until": until,
        "sections": sections,
        "total": total,
        "archive_url": archive,
    }


def preview_digest(
    plan: DigestPlan,
    *,
    settings: Settings,
    session: Session,
    language: str = "en",
    topics: list[str] | None = None,
    address: str = "reader@example.org",
) -> RenderedEmail | None:
    """The next issue as one reader would see it, without storing anything; None when
    there is nothing (for them) to send."""
    if not plan.item_ids:
        return None
    draft = Campaign(
        kind="digest",
        key=campaign_key(plan.period),
        template="digest",
        subject=digest_subject(plan),
        context=plan_context(plan),
    )
    ctx = digest_context(
        draft, segment_for(language, topics or []), settings=settings, session=session
    )
    if not ctx["total"]:
        return None
    rendered = render_email(
        "digest", {"base_url": settings.base_url, "subject": draft.subject, **ctx}
    )
    return rendered.with_slots(preview_values(settings, address))


PUBLISHED = ("sending", "paused", "done")


def archive_issues(*, session: Session) -> list[Campaign]:
    """Digest issues that went out (or are going out), newest first."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.kind == "digest", Campaign.status.in_(PUBLISHED))
            .order_by(Campaign.key.desc())
        )
    )


def archive_issue(key: str, *, settings: Settings, session: Session) -> dict[str, Any] | None:
    """One published issue with every item (no section limit), or None."""
    campaign = session.scalar(
        select(Campaign).where(
            Campaign.key == key, Campaign.kind == "digest", Campaign.status.in_(PUBLISHED)
        )
    )
    if campaign is None:
        return None
    everything = max(len(campaign.context["item_ids"]), 1)
    ctx = digest_context(campaign, "en|*", settings=settings, session=session, limit=everything)
    return {"campaign": campaign, "subject": campaign.subject, **ctx}
