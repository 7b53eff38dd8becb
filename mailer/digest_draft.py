"""The weekly issue under review (``R2P_DIGEST_REVIEW``): prepared as a draft some time
before its slot (``R2P_DIGEST_PREPARE_AT``), edited and approved by staff, and at the slot
queued if approved, else held: an issue is never sent unreviewed.

Every step locks the issue's row first (``lock_campaign``), so the scheduler's catch-up
running the same step twice, or an editor approving while the slot passes, changes it
once. Data functions take ``session`` keyword-only and never commit; the caller emails
the admins (``notice``) after its commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.digest import (
    FALLBACK_SUBJECT,
    DigestPlan,
    Issued,
    campaign_key,
    create_digest,
    digest_rendering,
    in_window,
    issue_stories,
    plan_digest,
    queue_reviewed,
    still_relevant,
)
from mailer.digest_content import (
    ContentPlanner,
    digest_context,
    lay_out,
    load_entries,
    situations,
    source_coverage,
)
from mailer.digest_review import Edits, ReviewState, store
from mailer.email.compose import test_copy
from mailer.email.render import RenderedEmail
from mailer.models import Campaign, Item
from mailer.outbox.campaigns import CampaignStateError, lock_campaign
from mailer.outbox.status import CampaignStatus

REVIEW_PATH = "/admin/digest/review"


def find_issue(period: str, *, session: Session) -> Campaign | None:
    return session.scalar(select(Campaign).where(Campaign.key == campaign_key(period)))


def latest_draft(*, session: Session) -> Campaign | None:
    """The newest digest issue not sent yet (in review, approved or held)."""
    return session.scalar(
        select(Campaign)
        .where(Campaign.kind == "digest", Campaign.status == CampaignStatus.DRAFT)
        .order_by(Campaign.key.desc())
        .limit(1)
    )


def review_state(campaign: Campaign) -> str:
    """in review / approved / held for a draft; the campaign's status once it is sent."""
    if campaign.status != CampaignStatus.DRAFT:
        return str(campaign.status)
    return Edits.of(campaign.context).state or ReviewState.IN_REVIEW.value


def prepare(*, settings: Settings, period: str, now: datetime, by: str, session: Session) -> Issued:
    """Create ``period``'s issue as a draft in review from the items up to ``now``;
    nothing is queued. An issue that exists already stays as it is."""
    plan = plan_digest(now=now, session=session, period=period, timezone=settings.digest_timezone)
    review = Edits(state=ReviewState.IN_REVIEW.value).as_context()
    campaign, queued, message = create_digest(
        plan, settings=settings, session=session, by=by, review=review
    )
    return Issued(plan, campaign, queued, message)


def _set_state(campaign: Campaign, state: ReviewState) -> None:
    campaign.context = store(campaign.context, Edits.of(campaign.context).with_state(state))


def require_draft(campaign: Campaign, *, session: Session) -> Edits:
    """Lock the issue; its edits, or CampaignStateError once it has been sent."""
    lock_campaign(campaign, session=session)
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignStateError(f"{campaign.key} has been sent already")
    return Edits.of(campaign.context)


def approve(
    campaign: Campaign, *, settings: Settings, by: str, now: datetime, session: Session
) -> int:
    """Approve the issue for its slot; an issue held past its slot goes out now.
    Returns the deliveries queued (none until the slot for an issue in review)."""
    edits = require_draft(campaign, session=session)
    if edits.state == ReviewState.HELD:
        return send_now(campaign, settings=settings, by=by, now=now, session=session)
    _set_state(campaign, ReviewState.APPROVED)
    session.flush()
    return 0


def send_now(
    campaign: Campaign, *, settings: Settings, by: str, now: datetime, session: Session
) -> int:
    """Queue the issue as edited, whatever the time; returns the deliveries queued."""
    require_draft(campaign, session=session)
    _set_state(campaign, ReviewState.APPROVED)
    return queue_reviewed(campaign, settings=settings, by=by, now=now, session=session)


def send_draft(
    campaign: Campaign, *, settings: Settings, by: str, now: datetime, session: Session
) -> Issued:
    """``send_now`` for a caller that speaks of issues (``digest send`` on the CLI)."""
    context = campaign.context
    plan = DigestPlan(
        period=context["period"],
        since=datetime.fromisoformat(context["since"]),
        until=datetime.fromisoformat(context["until"]),
        item_ids=list(context["item_ids"]),
    )
    queued = send_now(campaign, settings=settings, by=by, now=now, session=session)
    return Issued(plan, campaign, queued, f"{campaign.key}: the draft, {queued} deliveries queued")


@dataclass(frozen=True)
class SlotOutcome:
    """What the send slot did: queued an approved issue, held one still in review
    (``newly_held``: this run held it, so this run tells the admins), or nothing."""

    campaign: Campaign | None
    queued: int
    newly_held: bool
    message: str


def at_slot(*, settings: Settings, period: str, now: datetime, session: Session) -> SlotOutcome:
    """The send slot of ``period`` under review: queue the approved issue, hold one in
    review (preparing it first if the prepare time was missed), leave a sent one alone."""
    campaign = find_issue(period, session=session)
    if campaign is None:
        prepared = prepare(
            settings=settings, period=period, now=now, by="scheduler", session=session
        )
        campaign = prepared.campaign
        if campaign is None:
            return SlotOutcome(None, 0, False, prepared.message)
    lock_campaign(campaign, session=session)
    if campaign.status != CampaignStatus.DRAFT:
        return SlotOutcome(campaign, 0, False, f"{campaign.key} was sent already")
    state = Edits.of(campaign.context).state
    if state == ReviewState.APPROVED:
        # Due from the real clock: ``now`` only says which week's slot this is.
        due = min(now, datetime.now(UTC))
        queued = queue_reviewed(
            campaign, settings=settings, by="scheduler", now=due, session=session
        )
        return SlotOutcome(campaign, queued, False, f"{campaign.key}: {queued} deliveries queued")
    if state == ReviewState.HELD:
        return SlotOutcome(campaign, 0, False, f"{campaign.key} is held already")
    _set_state(campaign, ReviewState.HELD)
    session.flush()
    return SlotOutcome(campaign, 0, True, f"{campaign.key} is not approved: held, not sent")


def ready_notice(settings: Settings, campaign: Campaign, slot: datetime) -> tuple[str, str]:
    """(subject, text) telling the admins a draft waits for them."""
    link = f"{settings.base_url}{REVIEW_PATH}"
    return (
        f"Digest for review: {campaign.subject}",
        f"This week's digest ({campaign.context['period']}) is ready for review.\n\n"
        f"It goes out at {slot:%Y-%m-%d %H:%M} UTC only if an editor approves it:\n{link}\n",
    )


def held_notice(settings: Settings, campaign: Campaign) -> tuple[str, str]:
    link = f"{settings.base_url}{REVIEW_PATH}"
    return (
        f"Digest held: {campaign.subject}",
        f"This week's digest ({campaign.context['period']}) was not approved by its send "
        f"time, so it was held: nothing was sent.\n\nReview it and send it now:\n{link}\n",
    )


def editor_sections(
    campaign: Campaign, *, settings: Settings, session: Session
) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """The issue as a reader who takes everything reads it, with the stories the editor
    removed kept in place (marked ``removed``) so they can be restored."""
    entries = still_relevant(load_entries(campaign.context["item_ids"], session=session))
    archive = f"{settings.base_url}/archive/{campaign.key}"
    edits = Edits.of(campaign.context)
    known = situations(settings.relevance_file)
    return lay_out(entries.values(), known, archive, edits, keep_removed=True)


def reading_order(sections: list[tuple[str, str, list[dict[str, Any]]]]) -> list[int]:
    return [entry["id"] for _, _, entries in sections for entry in entries]


def neighbour(
    sections: list[tuple[str, str, list[dict[str, Any]]]], story: int, step: int
) -> int | None:
    """The story ``step`` places away from ``story`` in its own section, if any."""
    for _, _, entries in sections:
        ids = [entry["id"] for entry in entries]
        if story in ids:
            at = ids.index(story) + step
            return ids[at] if 0 <= at < len(ids) else None
    return None


def edit(campaign: Campaign, edits: Edits, *, settings: Settings, session: Session) -> None:
    """Store the editor's new ``edits`` on the locked draft; the issue's title (its
    subject for a reader who takes everything) follows the lead story."""
    campaign.context = store(campaign.context, edits)
    entries = load_entries(campaign.context["item_ids"], session=session)
    kept = ContentPlanner(issue_stories(entries, campaign)).select([])  # English, all topics
    ctx = digest_context(campaign, kept, entries, settings=settings)
    campaign.subject = str(ctx["subject"]) or FALLBACK_SUBJECT
    session.flush()


def preview_issue(
    campaign: Campaign,
    topics: Iterable[str],
    *,
    settings: Settings,
    session: Session,
    language: str = "en",
    include_english: bool = True,
) -> RenderedEmail | None:
    """The issue as edited, for a reader of ``language`` with these topics (none:
    everything); None when nothing in it is for them."""
    entries = load_entries(campaign.context["item_ids"], session=session)
    planner = ContentPlanner(
        issue_stories(entries, campaign), coverage=source_coverage(session=session)
    )
    content = planner.content_for(language, topics, include_english)
    if content is None:
        return None
    return digest_rendering(
        campaign, content.item_ids, entries, settings=settings, language=content.language
    )


def test_message(
    campaign: Campaign,
    to: str,
    topics: Iterable[str],
    *,
    settings: Settings,
    session: Session,
) -> bytes | None:
    """The issue as a reader with ``topics`` gets it, addressed to ``to``, marked [TEST]."""
    rendered = preview_issue(campaign, topics, settings=settings, session=session)
    return None if rendered is None else test_copy(rendered, to, settings=settings)


def follow_relevance(item: Item, *, settings: Settings, session: Session) -> Campaign | None:
    """Make the issue under review follow an editor's new verdict on ``item``: an item now
    relevant that the issue would have taken when it was prepared joins it; one no longer
    relevant drops out of it (``still_relevant``) and the issue's title follows. Returns
    the issue it changed, or None."""
    campaign = latest_draft(session=session)
    if campaign is None:
        return None
    require_draft(campaign, session=session)
    ids = list(campaign.context["item_ids"])
    if item.id not in ids:
        if not item.relevant or not _would_have_taken(campaign, item, session=session):
            return None
        campaign.context = {**campaign.context, "item_ids": [*ids, item.id]}
    edit(campaign, Edits.of(campaign.context), settings=settings, session=session)
    return campaign


def _would_have_taken(campaign: Campaign, item: Item, *, session: Session) -> bool:
    """Whether the issue would carry ``item`` had it been relevant when the issue was
    prepared: in its window, and already fetched then (a later one goes to the next)."""
    since = datetime.fromisoformat(campaign.context["since"])
    until = datetime.fromisoformat(campaign.context["until"])
    found = session.scalar(
        select(Item.id).where(
            Item.id == item.id, Item.fetched_at <= until, *in_window(since, until)
        )
    )
    return found is not None
