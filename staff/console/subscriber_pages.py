"""/admin/subscribers: readers by status, growth per week, a paginated list found by part
of the address and narrowed by status, topic, language and what they receive, and the
CSV export.

The search form is a POST (its page buttons too) so that what staff type, often part of an
address, stays out of access logs, the browser's history and Referer headers; the pages
therefore need no log redaction. The export is a POST for the same reason and is audited
(staff.actions.readers.export); every cell is made safe for spreadsheets.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mailer.db import session_scope
from mailer.outbox.status import REPORTED_SUBSCRIBER
from mailer.web.pages import SECURITY_HEADERS, factory_of, settings_of
from staff.actions import readers
from staff.actions.actor import Actor
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.charts import growth_chart
from staff.console.overview import active_reach, reader_counts
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, page
from subscribers.choices import LANGUAGES, vocabulary
from subscribers.growth import weekly_growth
from subscribers.listing import RECEIVES, ReaderFilter, find_readers

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
PATH = "/admin/subscribers"
STATUSES = REPORTED_SUBSCRIBER
MAX_TEXT = 320


def known_filter(request: Request, wanted: ReaderFilter) -> ReaderFilter:
    """The filter with anything not on offer dropped (a forged or stale form)."""
    tags = vocabulary(settings_of(request).relevance_file).tags
    return ReaderFilter(
        text=wanted.text.strip()[:MAX_TEXT],
        status=wanted.status if wanted.status in STATUSES else "",
        topic=wanted.topic if wanted.topic in tags else "",
        language=wanted.language if wanted.language in LANGUAGES else "",
        receives=wanted.receives if wanted.receives in RECEIVES else "",
    )


@dataclass(frozen=True)
class FilterField:
    """One drop-down of the search form: (value, label) options after an "any" option."""

    name: str
    label: str
    any_label: str
    options: tuple[tuple[str, str], ...]
    chosen: str


def filter_fields(request: Request, wanted: ReaderFilter) -> list[FilterField]:
    known = vocabulary(settings_of(request).relevance_file)
    topics = tuple((t.tag, t.label) for t in (*known.themes, *known.countries))
    receives = (("digest", "the digest"), ("alerts", "alerts"))
    return [
        FilterField("status", "Status", "Any", tuple((s, s) for s in STATUSES), wanted.status),
        FilterField("topic", "Topic", "Any", topics, wanted.topic),
        FilterField("language", "Language", "Any", tuple(LANGUAGES.items()), wanted.language),
        FilterField("receives", "Receives", "Anything", receives, wanted.receives),
    ]


def list_page(
    request: Request,
    admin: AdminIdentity,
    *,
    wanted: ReaderFilter | None = None,
    page_number: int = 1,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    wanted = known_filter(request, wanted or ReaderFilter())
    with session_scope(factory_of(request)) as session:
        context: dict[str, Any] = {
            "counts": reader_counts(session=session),
            "reach": active_reach(session=session),
            "listing": find_readers(wanted, page=page_number, session=session),
            "growth": growth_chart(weekly_growth(now=datetime.now(UTC), session=session)),
        }
    context |= {
        "text": wanted.text,
        "filters": filter_fields(request, wanted),
        "filtered": wanted != ReaderFilter(),
        "statuses": STATUSES,
        "errors": errors or {},
        "notice": notice,
    }
    return page(
        request, "subscribers.html", context, admin=admin, section="subscribers", status=status
    )


@router.get(PATH)
def subscribers(request: Request, admin: Admin) -> Response:
    return list_page(request, admin)


@router.post(PATH)
def search(
    request: Request,
    admin: Admin,
    q: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "",
    topic: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
    receives: Annotated[str, Form()] = "",
    page_number: Annotated[int, Form(alias="page")] = 1,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    wanted = ReaderFilter(q, status, topic, language, receives)
    if not admin_csrf_ok(request, csrf_token):
        errors = {"form": EXPIRED_FORM}
        return list_page(request, admin, wanted=wanted, errors=errors, status=400)
    return list_page(request, admin, wanted=wanted, page_number=page_number)


@router.post(PATH + "/export")
def export(
    request: Request,
    admin: Admin,
    status: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not admin_csrf_ok(request, csrf_token):
        return list_page(request, admin, errors={"form": EXPIRED_FORM}, status=400)
    chosen = status if status in STATUSES else None
    out = io.StringIO()
    now = datetime.now(UTC)
    with session_scope(factory_of(request)) as session:
        readers.export(
            out,
            status=chosen,
            target="console download",
            actor=Actor.web(admin.email, client_ip(request)),
            now=now,
            session=session,
        )
    name = f"subscribers-{chosen or 'all'}-{now:%Y-%m-%d}.csv"
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
    }
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
