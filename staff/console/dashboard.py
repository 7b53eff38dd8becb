"""The dashboard (/admin), with the last digest issues' reports side by side, and the
campaign list with live progress (/admin/campaigns)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailer.db import session_scope
from mailer.digest import plan_digest
from mailer.observe import health
from mailer.web.pages import factory_of, settings_of
from staff.console.auth import require_admin
from staff.console.digest_review import next_issue
from staff.console.overview import campaign_rows, summary
from staff.console.session import AdminIdentity
from staff.console.views import page
from staff.reports import UNSUBSCRIBE_WINDOW, recent_reports

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]

REFRESH_SECONDS = 3
LAST_ISSUES = 4


@router.get("/admin")
def dashboard(request: Request, admin: Admin) -> Response:
    settings = settings_of(request)
    now = datetime.now(UTC)
    with session_scope(factory_of(request)) as session:
        context = summary(now, session=session)
        context["digest"] = plan_digest(now=now, session=session)
        context["issue"] = next_issue(settings, now, session=session)
        context["health"] = health(now=now, session=session)
        issues = recent_reports(session=session, limit=LAST_ISSUES, kinds=("digest",))
        context["issues"] = issues[::-1]  # oldest first, left to right
    context["window_days"] = UNSUBSCRIBE_WINDOW.days
    context["review"] = settings.digest_review
    context["maildir"] = settings.smtp_url is None
    context["refresh"] = REFRESH_SECONDS if any(c.live for c in context["campaigns"]) else 0
    return page(request, "dashboard.html", context, admin=admin, section="dashboard")


@router.get("/admin/campaigns")
def campaigns(request: Request, admin: Admin) -> Response:
    """Alerts and digest issues with their deliveries by state; refreshes while sending."""
    with session_scope(factory_of(request)) as session:
        rows = campaign_rows(session=session, limit=100)
    context = {"campaigns": rows, "refresh": REFRESH_SECONDS if any(r.live for r in rows) else 0}
    return page(request, "campaigns.html", context, admin=admin, section="campaigns")
