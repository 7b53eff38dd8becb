"""Composing an alert: the form (empty, or filled from a stored item) and its POST,
which stores a draft. Nothing is sent from here: the alert page approves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mailer.alerts import AlertError, draft_from_item
from mailer.db import session_scope
from mailer.web.pages import factory_of, settings_of
from staff.actions import alerts
from staff.actions.actor import Actor
from staff.console.alert_form import AlertForm, expiry_choices
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, page, problem, see_other
from subscribers.choices import vocabulary

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]


def _form_page(
    request: Request, admin: AdminIdentity, form: AlertForm, *, error: str = "", status: int = 200
) -> Response:
    settings = settings_of(request)
    context: dict[str, Any] = {
        "form": form,
        "expiries": expiry_choices(settings.alert_expires),
        "approvers": settings.alert_approvers,
        "zone": settings.console_timezone,
        "errors": {"form": error} if error else {},
    }
    return page(request, "alert_new.html", context, admin=admin, section="new", status=status)


@router.get("/admin/alerts/new")
def new_alert(request: Request, admin: Admin, item: int | None = None) -> Response:
    settings = settings_of(request)
    form = AlertForm(expires=str(int(settings.alert_expires.total_seconds())))
    if item is not None:
        with session_scope(factory_of(request)) as session:
            try:
                draft = draft_from_item(item, session=session)
            except AlertError:
                return problem(request, admin, "No such item", f"There is no item {item}.", 404)
        known = vocabulary(settings.relevance_file)
        form = AlertForm.from_draft(draft, settings.alert_expires, known)
    return _form_page(request, admin, form)


@router.post("/admin/alerts")
def create(
    request: Request,
    admin: Admin,
    subject: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    link: Annotated[str, Form()] = "",
    audience: Annotated[str, Form()] = "all",
    topics: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    expires: Annotated[str, Form()] = "",
    item_id: Annotated[int | None, Form()] = None,
    send_at: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    settings = settings_of(request)
    form = AlertForm(subject, body, link, audience, frozenset(topics), expires, item_id, send_at)
    if not admin_csrf_ok(request, csrf_token):
        return _form_page(request, admin, form, error=EXPIRED_FORM, status=400)
    actor = Actor.web(admin.email, client_ip(request))
    with session_scope(factory_of(request)) as session:
        try:
            campaign = alerts.create(
                form.draft(),
                expires_in=form.lifetime(),
                actor=actor,
                settings=settings,
                now=datetime.now(UTC),
                session=session,
                send_at=form.send_time(settings.console_timezone),
            )
        except AlertError as exc:
            session.rollback()
            error = f"The alert was not saved: {exc}."
            return _form_page(request, admin, form, error=error, status=400)
    return see_other(f"/admin/alerts/{campaign.id}?done=created")
