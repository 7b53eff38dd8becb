"""The dashboard (/admin), with the last digest issues' reports side by side, and the
campaign list with live progress (/admin/campaigns), where a paused campaign is resumed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mailer.db import session_scope
from mailer.digest import plan_digest
from mailer.observe import health
from mailer.outbox.campaigns import CampaignStateError
from mailer.web.pages import factory_of, settings_of, wake_worker
from staff.actions import campaigns as campaign_actions
from staff.actions.actor import Actor
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.digest_review import next_issue
from staff.console.overview import campaign_rows, summary
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, page, see_other
from staff.reports import UNSUBSCRIBE_WINDOW, recent_reports

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]

REFRESH_SECONDS = 3
LAST_ISSUES = 4
RESUMED = "Resumed: its remaining mail goes out now."


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
def campaigns(request: Request, admin: Admin, done: str = "") -> Response:
    """Alerts and digest issues with their deliveries by state; refreshes while sending."""
    return _campaigns_page(request, admin, notice=RESUMED if done == "resumed" else "")


def _campaigns_page(
    request: Request, admin: AdminIdentity, *, notice: str = "", error: str = "", status: int = 200
) -> Response:
    with session_scope(factory_of(request)) as session:
        rows = campaign_rows(session=session, limit=100)
    context = {
        "campaigns": rows,
        "refresh": REFRESH_SECONDS if any(r.live for r in rows) and not error else 0,
        "notice": notice,
        "errors": {"form": error} if error else {},
    }
    return page(request, "campaigns.html", context, admin=admin, section="campaigns", status=status)


@router.post("/admin/campaigns/{campaign_id}/resume")
def resume(
    request: Request, admin: Admin, campaign_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Resume a paused campaign (one that paused itself on policy refusals)."""
    if not admin_csrf_ok(request, csrf_token):
        return _campaigns_page(request, admin, error=EXPIRED_FORM, status=400)
    with session_scope(factory_of(request)) as session:
        try:
            campaign_actions.resume(
                campaign_id,
                actor=Actor.web(admin.email, client_ip(request)),
                now=datetime.now(UTC),
                session=session,
            )
        except CampaignStateError as exc:
            session.rollback()
            return _campaigns_page(request, admin, error=str(exc), status=409)
    wake_worker(request)  # after the commit, or the worker would find nothing
    return see_other("/admin/campaigns?done=resumed")
