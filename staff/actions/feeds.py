"""Feed sources as staff change them: add one, edit it, enable or disable polling it,
each audited (feed.add, feed.edit, feed.enable, feed.disable); and a poll run by hand,
audited once it is over (feeds.poll). The session is never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from jobs.poll import PollOutcome
from mailer.config import Settings
from mailer.feeds.registry import SourceEdit, SourceSpec, add_source, edit_source, set_enabled
from mailer.models import Source
from mailer.roles import Permission
from staff.actions.actor import Actor


def add(
    spec: SourceSpec, *, actor: Actor, settings: Settings, now: datetime, session: Session
) -> Source:
    """A new source; raises SourceError (bad key, taken) or UnsafeURLError (a private or
    loopback address, unless R2P_ALLOW_PRIVATE_FEEDS=true)."""
    actor.require(Permission.COMPOSE, session=session)
    source = add_source(spec, allow_private=settings.allow_private_feeds, session=session)
    actor.record("feed.add", target=spec.key, now=now, session=session, url=spec.url)
    return source


def edit(
    key: str,
    changes: SourceEdit,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    session: Session,
) -> dict[str, object]:
    """Change a source's address, title, language, section or "always relevant"; a new
    address passes the same checks as ``add``'s. Returns what changed, audited; an edit
    that changes nothing is not recorded."""
    actor.require(Permission.COMPOSE, session=session)
    _source, changed = edit_source(
        key, changes, allow_private=settings.allow_private_feeds, session=session
    )
    if changed:
        actor.record("feed.edit", target=key, now=now, session=session, **changed)
    return changed


def enable(key: str, *, actor: Actor, now: datetime, session: Session) -> Source:
    """Poll the source again (its failure count starts over)."""
    actor.require(Permission.COMPOSE, session=session)
    source = set_enabled(key, True, session=session)
    actor.record("feed.enable", target=key, now=now, session=session)
    return source


def disable(key: str, *, actor: Actor, now: datetime, session: Session) -> Source:
    """Stop polling the source; its stored items stay."""
    actor.require(Permission.COMPOSE, session=session)
    source = set_enabled(key, False, session=session)
    actor.record("feed.disable", target=key, now=now, session=session)
    return source


def may_poll(actor: Actor, *, session: Session) -> None:
    """Raise NotAllowedError unless the actor may poll feeds by hand (checked before the
    poll starts; ``polled`` records it after)."""
    actor.require(Permission.COMPOSE, session=session)


def polled(
    key: str | None,
    outcomes: Sequence[PollOutcome],
    *,
    actor: Actor,
    now: datetime,
    session: Session,
) -> None:
    """Record a poll run by hand (``jobs.poll.poll_sources``, which stores what it fetched
    in transactions of its own): one source (``key``) or all, as feeds.poll."""
    may_poll(actor, session=session)
    actor.record(
        "feeds.poll",
        target=key or "",
        now=now,
        session=session,
        feeds=len(outcomes),
        new=sum(o.new for o in outcomes),
        failed=sum(1 for o in outcomes if o.status in {"failed", "gone"}),
    )
