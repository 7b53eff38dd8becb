"""/admin/items: the stored items, newest first, found by words, source, publication
dates, tag and verdict, each with the terms that made it relevant (or not); and an
editor's "relevant / not relevant" on one item, or handing it back to the rules.

The search is a GET form (news items are public text, and a search can be bookmarked);
each correction is a POST with a CSRF token, a staff action (staff.actions.items, audited
as item.relevance) that the next digest and an issue under review follow.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mailer.db import session_scope
from mailer.errors import ItemError
from mailer.feeds.items import MARKS, VERDICTS, ItemFilter, find_items
from mailer.feeds.registry import list_sources
from mailer.feeds.tagging import load_tagger
from mailer.web.pages import factory_of, settings_of
from staff.actions import items
from staff.actions.actor import Actor
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, page, problem, see_other

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
PATH = "/admin/items"
FILTER_KEYS = ("q", "source", "since", "until", "tag", "verdict", "page")
MAX_TEXT = 200
DONE = {
    "relevant": "Marked relevant: the next digest carries it.",
    "not-relevant": "Marked not relevant: the next digest leaves it out.",
    "rules": "Handed back to the relevance rules.",
}
KIND_LABELS = {"crime": "Crime", "r2p": "R2P", "risk": "Risk factor", "country": "Country"}


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 7 else 1


def known_filter(
    query: dict[str, str], sources: set[str], tags: set[str]
) -> tuple[ItemFilter, int]:
    """The filter and page asked for, with anything not on offer dropped."""
    wanted = ItemFilter(
        text=query.get("q", "").strip()[:MAX_TEXT],
        source=query.get("source", "") if query.get("source", "") in sources else "",
        since=_date(query.get("since", "")),
        until=_date(query.get("until", "")),
        tag=query.get("tag", "") if query.get("tag", "") in tags else "",
        verdict=query.get("verdict", "") if query.get("verdict", "") in VERDICTS else "",
    )
    return wanted, _page_number(query.get("page", ""))


def query_of(wanted: ItemFilter, page_number: int = 1) -> str:
    """The filter as a query string (empty fields left out)."""
    fields = {
        "q": wanted.text,
        "source": wanted.source,
        "since": wanted.since.isoformat() if wanted.since else "",
        "until": wanted.until.isoformat() if wanted.until else "",
        "tag": wanted.tag,
        "verdict": wanted.verdict,
        "page": str(page_number) if page_number > 1 else "",
    }
    return urlencode({k: v for k, v in fields.items() if v})


def _list_page(
    request: Request,
    admin: AdminIdentity,
    query: dict[str, str],
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    settings = settings_of(request)
    rules = load_tagger(settings.relevance_file).rules
    tag_options = [(r.tag, r.label, r.kind) for r in rules]
    with session_scope(factory_of(request)) as session:
        sources = [(s.key, s.title or s.key) for s, _n in list_sources(session=session)]
        wanted, page_number = known_filter(
            query, {k for k, _ in sources}, {t for t, _, _ in tag_options}
        )
        found = find_items(
            wanted, page=page_number, session=session, relevance_file=settings.relevance_file
        )
    context: dict[str, Any] = {
        "found": found,
        "wanted": wanted,
        "filtered": wanted != ItemFilter(),
        "back": query_of(wanted, found.page),
        "page_query": lambda n: query_of(wanted, n),
        "sources": sources,
        "tags": tag_options,
        "kind_labels": KIND_LABELS,
        "verdicts": VERDICTS,
        "notice": notice,
        "errors": errors or {},
    }
    return page(request, "items.html", context, admin=admin, section="items", status=status)


@router.get(PATH)
def item_list(request: Request, admin: Admin, done: str = "") -> Response:
    query = {k: v for k, v in request.query_params.items() if k in FILTER_KEYS}
    return _list_page(request, admin, query, notice=DONE.get(done, ""))


@router.post(PATH + "/{item_id}/mark")
def mark_item(
    request: Request,
    admin: Admin,
    item_id: int,
    verdict: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """An editor's verdict on one item, then the list they were looking at."""
    query = {k: v for k, v in parse_qsl(back[:2000]) if k in FILTER_KEYS}
    if not admin_csrf_ok(request, csrf_token):
        return _list_page(request, admin, query, errors={"form": EXPIRED_FORM}, status=400)
    if verdict not in MARKS:
        return _list_page(request, admin, query, errors={"form": "Choose a verdict."}, status=400)
    try:
        with session_scope(factory_of(request)) as session:
            items.mark(
                item_id,
                MARKS[verdict],
                actor=Actor.web(admin.email, client_ip(request)),
                settings=settings_of(request),
                now=datetime.now(UTC),
                session=session,
            )
    except ItemError:
        return problem(request, admin, "Item not found", "That item no longer exists.", 404)
    return see_other(f"{PATH}?{urlencode({**query, 'done': verdict})}#item-{item_id}")
