"""Feed sources as staff change them: add one, enable or disable polling it, each audited
(feed.add, feed.enable, feed.disable). The session is never committed here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.feeds.registry import SourceSpec, add_source, set_enabled
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
