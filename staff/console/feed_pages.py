"""/admin/feeds: every feed source with its health in plain words, and adding one (the
same address checks as ``feeds add``); /admin/feeds/<key>: one source, its health with the
error as recorded, editing it, disabling or enabling it, and polling it now with the
result shown.

Every change is a staff action (staff.actions.feeds), audited by the source's key. A poll
by hand runs ``jobs.poll.poll_sources`` for that one source while the request waits (its
fetch is bounded by R2P_FEED_TIMEOUT), then the page says what it found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs.poll import PollOutcome, poll_sources
from mailer.db import session_scope
from mailer.errors import MailerError, SourceError
from mailer.feeds.health import health_of, plain_error
from mailer.feeds.registry import OTHER_SECTION, SourceEdit, SourceSpec, get_source
from mailer.models import Item, Source
from mailer.web.pages import factory_of, settings_of
from staff.actions import feeds
from staff.actions.actor import Actor
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.overview import feed_health, feed_row
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, page, problem, see_other

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
PATH = "/admin/feeds"
SECTIONS = {
    "global-centre": "From the Global Centre",
    "un-news": "UN News",
    "un-press": "UN press releases",
    OTHER_SECTION: "Other sources",
}
DONE = {
    "added": "The feed is added. Poll it now to see what it holds.",
    "saved": "Your changes are saved.",
    "unchanged": "Nothing was changed.",
    "enabled": "The feed is enabled: it is polled again from the next round.",
    "disabled": "The feed is disabled: it is not polled; its items stay.",
}
POLL_STATUSES = frozenset({"new", "unchanged", "failed", "gone"})
MAX_FIELD = 2048


@dataclass(frozen=True)
class FeedFields:
    """The add and edit forms as staff filled them in."""

    key: str = ""
    url: str = ""
    title: str = ""
    section: str = OTHER_SECTION
    language: str = "en"
    always_relevant: bool = False

    @classmethod
    def of(cls, source: Source) -> FeedFields:
        return cls(
            source.key,
            source.url,
            source.title,
            source.section,
            source.language,
            source.always_relevant,
        )

    @classmethod
    def submitted(
        cls, key: str, url: str, title: str, section: str, language: str, always: str
    ) -> FeedFields:
        return cls(
            key.strip()[:64],
            url.strip()[:MAX_FIELD],
            title.strip()[:200],
            section.strip()[:32] or OTHER_SECTION,
            language.strip()[:8] or "en",
            always == "on",
        )

    def spec(self) -> SourceSpec:
        return SourceSpec(
            self.key,
            self.url,
            self.title,
            language=self.language,
            always_relevant=self.always_relevant,
            section=self.section,
        )

    def edit(self) -> SourceEdit:
        return SourceEdit(
            url=self.url,
            title=self.title,
            language=self.language,
            always_relevant=self.always_relevant,
            section=self.section,
        )


def _sections(chosen: str) -> dict[str, str]:
    """The sections on offer, with a source's own if it has another one."""
    return SECTIONS if chosen in SECTIONS else {**SECTIONS, chosen: chosen}


def list_page(
    request: Request,
    admin: AdminIdentity,
    *,
    fields: FeedFields | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with session_scope(factory_of(request)) as session:
        rows = feed_health(session=session)
    fields = fields or FeedFields()
    context = {
        "feeds": rows,
        "failing": [row for row in rows if row.health.attention],
        "fields": fields,
        "sections": _sections(fields.section),
        "errors": errors or {},
        "private_allowed": settings_of(request).allow_private_feeds,
    }
    return page(request, "feeds.html", context, admin=admin, section="feeds", status=status)


@router.get(PATH)
def feed_list(request: Request, admin: Admin) -> Response:
    return list_page(request, admin)


def _actor(request: Request, admin: AdminIdentity) -> Actor:
    return Actor.web(admin.email, client_ip(request))


def _field_of(exc: MailerError) -> str:
    """Which field of the form an action's refusal is about."""
    text = str(exc)
    if "source key" in text or "already exists" in text:
        return "key"
    if "section" in text:
        return "section"
    if "language" in text:
        return "language"
    return "url" if not isinstance(exc, SourceError) else "form"


@router.post(PATH)
def add_feed(
    request: Request,
    admin: Admin,
    key: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    section: Annotated[str, Form()] = OTHER_SECTION,
    language: Annotated[str, Form()] = "en",
    always_relevant: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    fields = FeedFields.submitted(key, url, title, section, language, always_relevant)
    if not admin_csrf_ok(request, csrf_token):
        return list_page(request, admin, fields=fields, errors={"form": EXPIRED_FORM}, status=400)
    settings = settings_of(request)
    try:
        with session_scope(factory_of(request)) as session:
            feeds.add(
                fields.spec(),
                actor=_actor(request, admin),
                settings=settings,
                now=datetime.now(UTC),
                session=session,
            )
    except MailerError as exc:
        errors = {_field_of(exc): str(exc)}
        return list_page(request, admin, fields=fields, errors=errors, status=400)
    return see_other(f"{PATH}/{fields.key}?done=added")


def _gone(request: Request, admin: AdminIdentity) -> Response:
    return problem(request, admin, "Feed not found", "There is no feed with that key.", 404)


def _recent_items(source: Source, session: Session) -> list[Item]:
    return list(
        session.scalars(
            select(Item)
            .where(Item.source_id == source.id)
            .order_by(Item.published_at.desc(), Item.id.desc())
            .limit(5)
        )
    )


def _item_count(source: Source, session: Session) -> int:
    counted = session.scalar(select(func.count()).where(Item.source_id == source.id))
    return int(counted or 0)


@dataclass(frozen=True)
class PollResult:
    """What a poll by hand found, as the page says it."""

    status: str
    headline: str
    detail: str


def poll_result(status: str, new: int, seen: int, url: str, message: str) -> PollResult:
    if status == "new":
        found = f"{new} new item{'s' if new != 1 else ''}"
        headline = f"Polled just now: {found} of {seen} in the feed."
        if seen == 0:
            headline = "Polled just now: the feed answered, with no items in it."
        return PollResult(status, headline, plain_error(message, url) if message else "")
    if status == "unchanged":
        return PollResult(status, "Polled just now: the feed has not changed since last time.", "")
    if status == "gone":
        return PollResult(
            status,
            "Polled just now: the server says the feed is gone for good, so it is disabled.",
            "",
        )
    return PollResult(status, "Polled just now: it failed.", plain_error(message, url))


def feed_page(
    request: Request,
    admin: AdminIdentity,
    key: str,
    *,
    fields: FeedFields | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    polled: PollResult | None = None,
    status: int = 200,
) -> Response:
    with session_scope(factory_of(request)) as session:
        try:
            source = get_source(key, session=session)
        except SourceError:
            return _gone(request, admin)
        row = feed_row(source, _item_count(source, session))
        recent = _recent_items(source, session)
        fields = fields or FeedFields.of(source)
        context: dict[str, Any] = {
            "feed": row,
            "source": source,
            "recent": recent,
            "fields": fields,
            "sections": _sections(fields.section),
            "errors": errors or {},
            "notice": notice,
            "polled": polled,
        }
    return page(request, "feed.html", context, admin=admin, section="feeds", status=status)


@router.get(PATH + "/{key}")
def feed(
    request: Request,
    admin: Admin,
    key: str,
    done: str = "",
    polled: str = "",
    new: int = 0,
    seen: int = 0,
) -> Response:
    result = None
    if polled in POLL_STATUSES:
        with session_scope(factory_of(request)) as session:
            try:
                source = get_source(key, session=session)
            except SourceError:
                return _gone(request, admin)
            url, health = source.url, health_of(source)
        # the poll's own problem: a failure, or a warning recorded with its success
        message = health.raw if health.attention else ""
        result = poll_result(polled, max(new, 0), max(seen, 0), url, message)
    return feed_page(request, admin, key, notice=DONE.get(done, ""), polled=result)


def _act(
    request: Request,
    admin: AdminIdentity,
    key: str,
    token: str,
    action: Callable[[Session], Any],
    done: str,
    *,
    fields: FeedFields | None = None,
) -> Response:
    """One staff action on the feed in one transaction, then its page saying so."""
    if not admin_csrf_ok(request, token):
        errors = {"form": EXPIRED_FORM}
        return feed_page(request, admin, key, fields=fields, errors=errors, status=400)
    try:
        with session_scope(factory_of(request)) as session:
            get_source(key, session=session)
            action(session)
    except SourceError as exc:
        if str(exc).startswith("no source"):
            return _gone(request, admin)
        errors = {_field_of(exc): str(exc)}
        return feed_page(request, admin, key, fields=fields, errors=errors, status=400)
    except MailerError as exc:
        errors = {_field_of(exc): str(exc)}
        return feed_page(request, admin, key, fields=fields, errors=errors, status=400)
    return see_other(f"{PATH}/{key}?done={done}")


@router.post(PATH + "/{key}/edit")
def edit_feed(
    request: Request,
    admin: Admin,
    key: str,
    url: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    section: Annotated[str, Form()] = OTHER_SECTION,
    language: Annotated[str, Form()] = "en",
    always_relevant: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    fields = FeedFields.submitted(key, url, title, section, language, always_relevant)
    changed: list[dict[str, object]] = []

    def save(session: Session) -> None:
        changes = feeds.edit(
            key,
            fields.edit(),
            actor=_actor(request, admin),
            settings=settings_of(request),
            now=datetime.now(UTC),
            session=session,
        )
        changed.append(changes)

    response = _act(request, admin, key, csrf_token, save, "saved", fields=fields)
    if changed and not changed[0] and response.status_code == 303:
        return see_other(f"{PATH}/{key}?done=unchanged")
    return response


@router.post(PATH + "/{key}/enable")
def enable_feed(
    request: Request, admin: Admin, key: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    def enable(session: Session) -> None:
        feeds.enable(key, actor=_actor(request, admin), now=datetime.now(UTC), session=session)

    return _act(request, admin, key, csrf_token, enable, "enabled")


@router.post(PATH + "/{key}/disable")
def disable_feed(
    request: Request, admin: Admin, key: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    def disable(session: Session) -> None:
        feeds.disable(key, actor=_actor(request, admin), now=datetime.now(UTC), session=session)

    return _act(request, admin, key, csrf_token, disable, "disabled")


@router.post(PATH + "/{key}/poll")
def poll_feed(
    request: Request, admin: Admin, key: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Poll the one feed now (the request waits for it), audited as feeds.poll."""
    if not admin_csrf_ok(request, csrf_token):
        return feed_page(request, admin, key, errors={"form": EXPIRED_FORM}, status=400)
    settings, factory = settings_of(request), factory_of(request)
    with session_scope(factory) as session:
        feeds.may_poll(_actor(request, admin), session=session)
    try:
        outcomes = asyncio.run(poll_sources(settings, factory, key=key))
    except SourceError as exc:
        if str(exc).startswith("no source"):
            return _gone(request, admin)
        return feed_page(request, admin, key, errors={"form": str(exc)}, status=409)
    with session_scope(factory) as session:
        feeds.polled(
            key, outcomes, actor=_actor(request, admin), now=datetime.now(UTC), session=session
        )
    [outcome] = outcomes or [PollOutcome(key, "failed", message="nothing was polled")]
    query = urlencode({"polled": outcome.status, "new": outcome.new, "seen": outcome.seen})
    return see_other(f"{PATH}/{key}?{query}")
