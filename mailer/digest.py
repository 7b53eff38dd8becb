"""The weekly digest: one campaign per ISO week (``digest:2026-W48``) built from the
relevant items published since the previous issue's cutoff (``plan_digest``); each reader
gets the stories their topics select (``mailer.digest_content``). What
runs it weekly is ``jobs/schedule.py``; this module is its content and its campaign.
``issue`` plans, creates and queues an issue in the caller's transaction; ``issue_digest``
does it in one write transaction of its own, tried again when the database is locked or
the connection is lost (``mailer.db.run_with_retry``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.audience import matching_readers
from mailer.config import Settings
from mailer.db import run_with_retry
from mailer.digest_content import (
    ContentPlanner,
    digest_context,
    load_entries,
    source_coverage,
    week_stories,
)
from mailer.digest_review import REVIEW_KEY, Edits
from mailer.digest_stories import Story
from mailer.email.render import RenderedEmail, preview_values, render_email, site_context
from mailer.models import Campaign, CampaignContent, Item, Source
from mailer.outbox.campaigns import get_or_create_campaign, start
from mailer.outbox.ledger import enqueue
from mailer.outbox.status import PUBLISHED_CAMPAIGN, Priority

# An item published shortly before an issue's window but fetched only after the previous
# issue was made (a feed that was down, a late index) still gets into the next issue;
# anything older is a backlog (a new feed's archive) and never does.
LATE_ARRIVAL = timedelta(days=2)
FALLBACK_SUBJECT = "R2P weekly digest"


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


def legacy_segment_topics(segment: str) -> set[str] | None:
    """Topics named by a delivery queued before content keys (``en|sudan,mali``; ``*``
    is everything), so an issue in flight during an upgrade still goes out."""
    topics = segment.split("|", 1)[1]
    return None if topics == "*" else set(topics.split(","))


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
    """Which items the issue for ``period`` (default: this week in ``timezone``) would
    carry: the relevant items *published* in its window (after the previous issue's cutoff,
    or in the last seven days for a first issue, up to ``now``), and those published up to
    ``LATE_ARRIVAL`` before the window that were fetched only after the previous cutoff.
    Publication, not fetch time, decides: a feed's backlog from months ago stays out."""
    period = period or iso_period(now, timezone)
    since = previous_cutoff(session=session, before=period) or now - timedelta(days=7)
    ids = list(
        session.scalars(
            select(Item.id)
            .where(Item.relevant, *in_window(since, now))
            .order_by(Item.published_at.desc(), Item.id.desc())
        )
    )
    return DigestPlan(period=period, since=since, until=now, item_ids=ids)


def in_window(since: datetime, until: datetime) -> tuple[ColumnElement[bool], ...]:
    """The items an issue made at ``until`` after a cutoff ``since`` takes, relevance
    aside: published in its window, or shortly before it but fetched after the cutoff."""
    late = and_(Item.fetched_at > since, Item.published_at > since - LATE_ARRIVAL)
    return (Item.published_at <= until, or_(Item.published_at > since, late))


def draft_campaign(plan: DigestPlan, subject: str = FALLBACK_SUBJECT) -> Campaign:
    """The issue as an unsaved campaign (for its subject and for previews)."""
    return Campaign(
        kind="digest",
        key=campaign_key(plan.period),
        template="digest",
        subject=subject,
        context=plan_context(plan),
    )


def digest_subject(
    plan: DigestPlan, entries: dict[int, tuple[Item, Source]], *, settings: Settings
) -> str:
    """The issue's title in lists and the archive: the subject of an English reader who
    gets every story ("Sudan: <lead story>, and 12 more"); each reader's subject is their
    own."""
    english = ContentPlanner(week_stories(entries)).select([])
    ctx = digest_context(draft_campaign(plan), english, entries, settings=settings)
    return str(ctx["subject"]) or FALLBACK_SUBJECT


def plan_context(plan: DigestPlan) -> dict[str, Any]:
    return {
        "period": plan.period,
        "since": plan.since.isoformat(),
        "until": plan.until.isoformat(),
        "item_ids": plan.item_ids,
    }


def _recipients(planner: ContentPlanner, *, session: Session) -> Iterator[tuple[int, str]]:
    """(subscriber id, content key) for every active digest reader with something to read."""
    week_topics: set[str] = set().union(*(w.topics for w in planner.items))
    for reader in matching_readers(wanting="digest", topics=week_topics, session=session):
        content = planner.content_for(reader.language, reader.topics, reader.include_english)
        if content is not None:
            yield reader.id, content.key


def issue_stories(
    entries: dict[int, tuple[Item, Source]], campaign: Campaign | None = None
) -> list[Story]:
    """The stories an issue carries: the week's, less those an editor removed; an item an
    editor has since marked not relevant is left out (``still_relevant``)."""
    removed = Edits.of(campaign.context).removed if campaign is not None else frozenset()
    stories = week_stories(still_relevant(entries))
    return [s for s in stories if min(s.item_ids) not in removed]


def still_relevant(entries: dict[int, tuple[Item, Source]]) -> dict[int, tuple[Item, Source]]:
    """An unsent issue's items less those no longer relevant (an editor's override)."""
    return {item_id: entry for item_id, entry in entries.items() if entry[0].relevant}


def queue_issue(
    campaign: Campaign,
    recipients: Iterator[tuple[int, str]],
    planner: ContentPlanner,
    *,
    settings: Settings,
    by: str,
    now: datetime,
    session: Session,
) -> int:
    """Approve the issue and queue one delivery per recipient, storing each distinct
    content once; returns the deliveries queued."""
    start(campaign, by=by, now=now, session=session)
    queued = enqueue(
        campaign, recipients, deadline_at=now + settings.retry_for, now=now, session=session
    )
    if planner.contents:
        session.execute(
            insert(CampaignContent),
            [
                {
                    "campaign_id": campaign.id,
                    "key": c.key,
                    "language": c.language,
                    "item_ids": list(c.item_ids),
                }
                for c in planner.contents.values()
            ],
        )
    return queued


def queue_reviewed(
    campaign: Campaign, *, settings: Settings, by: str, now: datetime, session: Session
) -> int:
    """Queue a draft issue as its editor left it (the stories they kept, for every reader
    whose topics select any); returns the deliveries queued."""
    entries = load_entries(campaign.context["item_ids"], session=session)
    planner = ContentPlanner(
        issue_stories(entries, campaign), coverage=source_coverage(session=session)
    )
    recipients = _recipients(planner, session=session)
    return queue_issue(
        campaign, recipients, planner, settings=settings, by=by, now=now, session=session
    )


def create_digest(
    plan: DigestPlan,
    *,
    settings: Settings,
    session: Session,
    by: str = "scheduler",
    review: dict[str, Any] | None = None,
) -> tuple[Campaign | None, int, str]:
    """Create, approve and enqueue the issue in one transaction: each reader's content is
    worked out here (streaming the list), stored once per distinct content, and named on
    their delivery. With ``review`` (the editor's starting state), the issue is only
    created, as a draft for review, and nothing is queued.

    Returns (campaign or None, deliveries queued, what happened in words).
    """
    key = campaign_key(plan.period)
    if session.scalar(select(Campaign.id).where(Campaign.key == key)) is not None:
        return None, 0, f"{key} already exists: nothing to do"
    if not plan.item_ids:
        return None, 0, f"no new relevant items since {plan.since:%Y-%m-%d %H:%M} UTC: no issue"
    entries = load_entries(plan.item_ids, session=session)
    planner = ContentPlanner(week_stories(entries), coverage=source_coverage(session=session))
    recipients = _recipients(planner, session=session)
    first = next(recipients, None)
    if first is None:
        # The items roll into the next issue: its cutoff is the last issue actually made.
        return None, 0, f"no reader's topics match the {len(plan.item_ids)} new items: no issue"
    context = plan_context(plan)
    if review is not None:
        context[REVIEW_KEY] = review
    campaign, _ = get_or_create_campaign(
        kind="digest",
        key=key,
        template="digest",
        subject=digest_subject(plan, entries, settings=settings),
        context=context,
        priority=Priority.DIGEST,
        created_by=by,
        session=session,
    )
    if review is not None:
        return campaign, 0, f"{key}: {len(plan.item_ids)} items, a draft for review"
    queued = queue_issue(
        campaign,
        itertools.chain([first], recipients),
        planner,
        settings=settings,
        by=by,
        now=plan.until,
        session=session,
    )
    return (
        campaign,
        queued,
        f"{key}: {len(plan.item_ids)} items, {queued} deliveries queued, "
        f"{len(planner.contents)} distinct contents",
    )


@dataclass(frozen=True)
class Issued:
    plan: DigestPlan
    campaign: Campaign | None
    queued: int
    message: str


def issue(*, settings: Settings, period: str | None, by: str, session: Session) -> Issued:
    """Plan, create and queue the issue for ``period`` (default: this week in the readers'
    time zone) in the caller's transaction; the week's key keeps it to one issue."""
    plan = plan_digest(
        now=datetime.now(UTC), session=session, period=period, timezone=settings.digest_timezone
    )
    campaign, queued, message = create_digest(plan, settings=settings, session=session, by=by)
    return Issued(plan, campaign, queued, message)


def issue_digest(
    factory: sessionmaker[Session],
    *,
    settings: Settings,
    period: str | None = None,
    by: str = "scheduler",
) -> Issued:
    """``issue`` in one write transaction of its own. A lock or a lost connection rolls it
    all back and it runs again from the plan."""
    return run_with_retry(
        factory, lambda session: issue(settings=settings, period=period, by=by, session=session)
    )


def digest_rendering(
    campaign: Campaign,
    item_ids: Sequence[int],
    entries: dict[int, tuple[Item, Source]],
    *,
    settings: Settings,
    language: str = "en",
) -> RenderedEmail:
    """The issue as a reader who gets ``item_ids`` in ``language`` sees it (reader slots
    left open)."""
    ctx = digest_context(campaign, item_ids, entries, settings=settings, language=language)
    return render_email(campaign.template, {**site_context(settings), **ctx})


def preview_digest(
    plan: DigestPlan,
    *,
    settings: Settings,
    session: Session,
    language: str = "en",
    topics: list[str] | None = None,
    address: str = "reader@example.org",
    include_english: bool = True,
) -> RenderedEmail | None:
    """The next issue as one reader would see it, without storing anything; None when
    there is nothing (for them) to send."""
    if not plan.item_ids:
        return None
    entries = load_entries(plan.item_ids, session=session)
    planner = ContentPlanner(week_stories(entries), coverage=source_coverage(session=session))
    content = planner.content_for(language, topics or [], include_english)
    if content is None:
        return None
    draft = draft_campaign(plan, digest_subject(plan, entries, settings=settings))
    rendered = digest_rendering(
        draft, content.item_ids, entries, settings=settings, language=content.language
    )
    return rendered.with_slots(preview_values(settings, address))


def archive_issues(*, session: Session) -> list[Campaign]:
    """Digest issues that went out (or are going out), newest first."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.kind == "digest", Campaign.status.in_(PUBLISHED_CAMPAIGN))
            .order_by(Campaign.key.desc())
        )
    )
