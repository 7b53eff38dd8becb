"""Approving an alert through a confirmation step: a page of its own that states the
audience counted the way sending counts it (``mailer.alerts.audience_size``, the same
readers approval queues), the subject readers will see, and when it goes out; then a
CSRF-protected POST that must say ``confirm=yes`` and name the version the page showed,
so no single click sends and an alert changed meanwhile is not approved unread."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mailer.alerts import AlertError, approval_refusal, get_alert
from mailer.db import session_scope
from mailer.outbox.campaigns import CampaignStateError
from mailer.web.pages import factory_of, settings_of, wake_worker
from staff.actions import alerts
from staff.actions.actor import Actor
from staff.console.alert_pages import no_alert, see_alert
from staff.console.alert_view import alert_view_for
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, page

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
CONFIRMED = "yes"


def readers(n: int) -> str:
    """ "2,431 readers", "1 reader"."""
    return f"{n:,} reader{'' if n == 1 else 's'}"


def confirm_page(
    request: Request,
    admin: AdminIdentity,
    alert_id: int,
    *,
    error: str = "",
    status: int = 200,
    refused_first: bool = False,
) -> Response:
    """The confirmation page; with the reason approving is refused (409) when it is, or
    first of all with ``refused_first``, else with ``error`` and ``status``."""
    settings = settings_of(request)
    now = datetime.now(UTC)
    with session_scope(factory_of(request)) as session:
        try:
            campaign = get_alert(alert_id, session=session)
        except AlertError:
            return no_alert(request, admin, alert_id)
        view = alert_view_for(
            campaign,
            viewer=admin.email,
            settings=settings,
            now=now,
            session=session,
        )
        refusal = approval_refusal(campaign, by=admin.email, now=now, session=session)
    if refusal and (refused_first or not error):
        error, status = f"This alert cannot be approved: {refusal}.", 409
    count = readers(view.audience_size)
    if not view.final_approval:
        more = view.needed - len(view.approved_by) - 1
        question = "Approve this alert?"
        others = "another admin approves" if more == 1 else f"{more} more admins approve"
        when = f", at {view.send_at_text}." if view.sends_later else "."
        outcome = f"It goes to {count} once {others}{when}"
        button = "Yes, approve"
    elif view.sends_later:
        question = f"Send to {count} at {view.send_at_text}?"
        outcome = "Your approval is the last one needed: it waits until then, and can be cancelled."
        button = f"Yes, send to {count} at the send time"
    else:
        question = f"Send to {count} now?"
        outcome = "Your approval is the last one needed: it goes out at once."
        button = f"Yes, send to {count} now"
    context = {
        "alert": view,
        "question": question,
        "outcome": outcome,
        "button": button,
        "subject_line": f"Urgent: {view.row.subject}",
        "can_confirm": not refusal,
        "errors": {"form": error} if error else {},
    }
    return page(
        request, "alert_confirm.html", context, admin=admin, section="campaigns", status=status
    )


@router.get("/admin/alerts/{alert_id}/approve")
def confirm(request: Request, admin: Admin, alert_id: int) -> Response:
    return confirm_page(request, admin, alert_id)


@router.post("/admin/alerts/{alert_id}/approve")
def approve(
    request: Request,
    admin: Admin,
    alert_id: int,
    csrf_token: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
) -> Response:
    """Approve as confirmed; without ``confirm=yes`` and the version, back to the page."""
    if not admin_csrf_ok(request, csrf_token):
        return confirm_page(request, admin, alert_id, error=EXPIRED_FORM, status=400)
    if confirm != CONFIRMED or not version:
        # confirm_page says why approving is refused, if it is (409), before this
        return confirm_page(
            request,
            admin,
            alert_id,
            error="Nothing was approved: confirm on this page first.",
            status=400,
            refused_first=True,
        )
    settings = settings_of(request)
    actor = Actor.web(admin.email, client_ip(request))
    with session_scope(factory_of(request)) as session:
        try:
            campaign = get_alert(alert_id, session=session)
        except AlertError:
            return no_alert(request, admin, alert_id)
        try:
            result = alerts.approve_alert(
                campaign,
                actor=actor,
                settings=settings,
                now=datetime.now(UTC),
                session=session,
                version=version,
            )
        except (AlertError, CampaignStateError) as exc:
            session.rollback()
            error = f"Not approved: {exc}."
            return confirm_page(request, admin, alert_id, error=error, status=409)
    if result.approved and result.send_at is None:
        wake_worker(request)  # after the commit, or the worker would find nothing
        log.info("alert %d approved: %d queued", alert_id, result.queued)
        return see_alert(alert_id, "approved")
    return see_alert(alert_id, "scheduled" if result.approved else "recorded")
