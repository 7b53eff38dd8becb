"""Stored items as staff correct them: an editor's "relevant" or "not relevant" on one
item, or handing it back to the relevance rules, audited as item.relevance. The next
digest follows it (digest selection reads the verdict), and so does an issue under review
(``mailer.digest_draft.follow_relevance``). The session is never committed here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailer import digest_draft
from mailer.config import Settings
from mailer.feeds.items import get_item, override, rules_verdict
from mailer.models import Campaign, Item
from mailer.roles import Permission
from staff.actions.actor import Actor

WORDS = {True: "relevant", False: "not relevant", None: "as the rules say"}


@dataclass(frozen=True)
class Marked:
    item: Item
    draft: Campaign | None  # the issue under review that followed the change, if any


def mark(
    item_id: int,
    verdict: bool | None,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    session: Session,
) -> Marked:
    """Set an editor's verdict on the item (None: the rules decide again); ItemError when
    there is no such item."""
    actor.require(Permission.COMPOSE, session=session)
    item = get_item(item_id, session=session, lock=True)
    override(item, verdict, by=actor.email, at=now)
    session.flush()
    draft = digest_draft.follow_relevance(item, settings=settings, session=session)
    actor.record(
        "item.relevance",
        target=str(item.id),
        now=now,
        session=session,
        verdict=WORDS[verdict],
        rules=WORDS[rules_verdict(item)],
        issue=draft.key if draft is not None else None,
    )
    return Marked(item, draft)
