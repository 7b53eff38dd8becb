"""Editing a draft alert: the form filled with the alert as it is (words, audience, send
time), and its POST through the audited ``staff.actions.alerts.edit``. Until the alert
is approved; a change of the words or audience clears the approvals given so far."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.alert_versions import translations_of
from mailer.alerts import AlertError, Schedule, editable, get_alert
from mailer.db import session_scope
from mailer.models import Approval, Campaign
from mailer.outbox.campaigns import CampaignStateError
from mailer.web.pages import factory_of, settings_of
from staff.actions import alerts
from staff.actions.actor import Actor
from staff.console.alert_form import AlertForm
from staff.console.alert_pages import alert_page, no_alert, see_alert
from staff.console.alert_view import ENGLISH_NAMES
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, page

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]


def _edit_page(
    request: Request,
    admin: AdminIdentity,
    campaign: Campaign,
    form: AlertForm,
    session: Session,
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    settings = settings_of(request)
    context: dict[str, Any] = {
        "alert_id": campaign.id,
        "subject": campaign.subject,
        "expires_at": campaign.expires_at,
        "form": form,
        "approved_by": _approvers(campaign, session),
        "translated": [
            ENGLISH_NAMES[code] for code in translations_of(campaign.id, session=session)
        ],
        "zone": settings.console_timezone,
        "errors": {"form": error} if error else {},
    }
    return page(
        request, "alert_edit.html", context, admin=admin, section="campaigns", status=status
    )


def _approvers(campaign: Campaign, session: Session) -> list[str]:
    return list(
        session.scalars(
            select(Approval.admin_email)
            .where(Approval.campaign_id == campaign.id)
            .order_by(Approval.at, Approval.id)
        )
    )


@router.get("/admin/alerts/{alert_id}/edit")
def edit_form(request: Request, admin: Admin, alert_id: int) -> Response:
    settings = settings_of(request)
    with session_scope(factory_of(request)) as session:
        try:
            campaign = get_alert(alert_id, session=session)
        except AlertError:
            return no_alert(request, admin, alert_id)
        try:
            editable(campaign, now=datetime.now(UTC))
        except CampaignStateError as exc:
            return alert_page(request, admin, alert_id, error=f"Not editable: {exc}.", status=409)
        form = AlertForm.of_alert(campaign, settings.console_timezone)
        return _edit_page(request, admin, campaign, form, session)


@router.post("/admin/alerts/{alert_id}/edit")
def save_edit(
    request: Request,
    admin: Admin,
    alert_id: int,
    subject: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    link: Annotated[str, Form()] = "",
    audience: Annotated[str, Form()] = "all",
    topics: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    send_at: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    settings = settings_of(request)
    actor = Actor.web(admin.email, client_ip(request))
    with session_scope(factory_of(request)) as session:
        try:
            campaign = get_alert(alert_id, session=session)
        except AlertError:
            return no_alert(request, admin, alert_id)
        form = AlertForm(
            subject,
            body,
            link,
            audience,
            frozenset(topics),
            item_id=campaign.context.get("item_id"),
            send_at=send_at,
        )
        if not admin_csrf_ok(request, csrf_token):
            return _edit_page(
                request, admin, campaign, form, session, error=EXPIRED_FORM, status=400
            )
        try:
            result = alerts.edit(
                campaign,
                form.draft(),
                schedule=Schedule(form.send_time(settings.console_timezone)),
                actor=actor,
                settings=settings,
                now=datetime.now(UTC),
                session=session,
            )
        except (AlertError, CampaignStateError) as exc:
            session.rollback()
            error = f"Not saved: {exc}."
            return _edit_page(request, admin, campaign, form, session, error=error, status=400)
    if not result.changed:
        return see_alert(alert_id, "unchanged")
    return see_alert(alert_id, "cleared" if result.approvals_cleared else "edited")
