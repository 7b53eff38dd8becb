"""The weekly digest as staff act on it: send the week's issue by hand (once per week
whatever happens, audited as digest.send), and review a draft issue: remove or restore a
story, move it, make it the lead, reword it, write the editor's note, send oneself a test,
approve it for its slot or send it now (``release_issue``). Every edit is one audited
action (digest.remove, digest.restore, digest.move, digest.lead, digest.reword,
digest.note, digest.test, digest.approve, digest.send_now). Previews change nothing and
are not audited. The session is never committed here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailer import digest_draft
from mailer.config import Settings
from mailer.digest import Issued, iso_period, issue
from mailer.digest_review import Edits
from mailer.models import Campaign
from mailer.outbox.status import CampaignStatus
from mailer.roles import Permission
from mailer.sending import SendResult, send_now
from staff.actions.actor import Actor


def send(
    period: str | None, *, actor: Actor, settings: Settings, now: datetime, session: Session
) -> Issued:
    """Issue the digest of ``period`` (an ISO week, default this week): nothing new when
    it was sent already; a draft under review is sent as its editor left it. Safe to run
    again after a rollback (``mailer.db.run_with_retry``)."""
    actor.require(Permission.SEND, session=session)
    chosen = period or iso_period(now, settings.digest_timezone)
    draft = digest_draft.find_issue(chosen, session=session)
    if draft is not None and draft.status == CampaignStatus.DRAFT:
        issued = digest_draft.send_draft(
            draft, settings=settings, by=actor.email, now=now, session=session
        )
    else:
        issued = issue(settings=settings, period=period, by=actor.email, session=session)
    actor.record(
        "digest.send",
        target=issued.campaign.key if issued.campaign is not None else issued.plan.period,
        now=now,
        session=session,
        created=issued.campaign is not None,
        queued=issued.queued,
    )
    return issued


@dataclass(frozen=True)
class Editing:
    """Who edits a draft issue, when, with which settings, in which transaction."""

    actor: Actor
    settings: Settings
    now: datetime
    session: Session


def _edit(
    campaign: Campaign, change: Callable[[Edits], Edits], action: str, by: Editing, **detail: Any
) -> None:
    """One editor's change to a draft issue, audited as ``action``; CampaignStateError
    once the issue has been sent."""
    by.actor.require(Permission.COMPOSE, session=by.session)
    edits = digest_draft.require_draft(campaign, session=by.session)
    digest_draft.edit(campaign, change(edits), settings=by.settings, session=by.session)
    by.actor.record(action, target=campaign.key, now=by.now, session=by.session, **detail)


def remove_story(campaign: Campaign, story: int, *, removed: bool, by: Editing) -> None:
    """Leave the story out of the issue (or put it back), audited digest.remove/restore."""
    action = "digest.remove" if removed else "digest.restore"
    _edit(campaign, lambda e: e.removing(story, removed=removed), action, by, story=story)


def move_story(campaign: Campaign, story: int, step: int, *, by: Editing) -> bool:
    """Swap the story with the one ``step`` (-1 up, +1 down) away in its section; False
    (nothing done) at either end of the section."""
    sections = digest_draft.editor_sections(campaign, settings=by.settings, session=by.session)
    other = digest_draft.neighbour(sections, story, step)
    if other is None:
        return False
    order = digest_draft.reading_order(sections)
    direction = "up" if step < 0 else "down"
    _edit(
        campaign,
        lambda e: e.moving(story, other, order),
        "digest.move",
        by,
        story=story,
        direction=direction,
    )
    return True


def lead_story(campaign: Campaign, story: int, *, by: Editing) -> None:
    """Make the story the issue's lead: first in the mail and named in the subject."""
    _edit(campaign, lambda e: e.leading(story), "digest.lead", by, story=story)


def reword_story(campaign: Campaign, story: int, *, title: str, summary: str, by: Editing) -> None:
    """This issue's title and summary for the story (blank: the story's own)."""
    _edit(
        campaign,
        lambda e: e.rewording(story, title=title, summary=summary),
        "digest.reword",
        by,
        story=story,
    )


def write_note(campaign: Campaign, note: str, *, by: Editing) -> None:
    """The editor's note (Markdown) at the top of the issue; blank removes it."""
    _edit(campaign, lambda e: e.noting(note), "digest.note", by, chars=len(note))


def send_test(campaign: Campaign, to: str, topics: list[str], *, by: Editing) -> SendResult | None:
    """Send the issue as a reader with ``topics`` gets it, marked [TEST], to ``to`` only,
    and audit the server's verdict; None (nothing sent) when nothing in it is for such a
    reader. Runs its own event loop (call it from a synchronous route or a CLI)."""
    by.actor.require(Permission.COMPOSE, session=by.session)
    message = digest_draft.test_message(
        campaign, to, topics, settings=by.settings, session=by.session
    )
    if message is None:
        return None
    [result] = asyncio.run(send_now(by.settings, [(to, message)]))
    detail = {"to": to, "topics": topics, "verdict": result.verdict}
    by.actor.record("digest.test", target=campaign.key, now=by.now, session=by.session, **detail)
    return result


def release_issue(campaign: Campaign, *, at_once: bool, by: Editing) -> int:
    """Approve the issue for its slot (a held issue goes out now), or with ``at_once``
    queue it as edited now; audited digest.approve / digest.send_now. Deliveries queued."""
    by.actor.require(Permission.SEND, session=by.session)
    step = digest_draft.send_now if at_once else digest_draft.approve
    queued = step(campaign, settings=by.settings, by=by.actor.email, now=by.now, session=by.session)
    action = "digest.send_now" if at_once else "digest.approve"
    by.actor.record(action, target=campaign.key, now=by.now, session=by.session, queued=queued)
    return queued
