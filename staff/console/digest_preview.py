"""The next digest, as a reader who takes everything would get it if it went out now, in
any of the six languages (``?lang=fr``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailer import i18n
from mailer.db import session_scope
from mailer.digest import DigestPlan, plan_digest, preview_digest
from mailer.email.render import RenderedEmail
from mailer.web.pages import factory_of, settings_of
from staff.console.auth import require_admin
from staff.console.digest_review import preview_language
from staff.console.session import AdminIdentity
from staff.console.views import email_html, page, problem

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
NOTHING = "No new relevant item since the last issue: there is no digest to send yet."


def _next_digest(
    request: Request, address: str, language: str
) -> tuple[DigestPlan, RenderedEmail | None]:
    settings = settings_of(request)
    with session_scope(factory_of(request)) as session:
        plan = plan_digest(now=datetime.now(UTC), session=session)
        rendered = preview_digest(
            plan, settings=settings, session=session, address=address, language=language
        )
        return plan, rendered


@router.get("/admin/digest/preview")
def digest_preview(request: Request, admin: Admin, lang: str = "") -> Response:
    language = preview_language(lang)
    plan, rendered = _next_digest(request, admin.email, language)
    context = {
        "plan": plan,
        "email": rendered,
        "nothing": NOTHING,
        "languages": i18n.LANGUAGE_NAMES,
        "language": language,
    }
    return page(request, "digest_preview.html", context, admin=admin, section="dashboard")


@router.get("/admin/digest/preview.html")
def digest_preview_html(request: Request, admin: Admin, lang: str = "") -> Response:
    _plan, rendered = _next_digest(request, admin.email, preview_language(lang))
    if rendered is None:
        return problem(request, admin, "No digest yet", NOTHING, 404)
    return email_html(rendered.html)
