"""One alert: its page (preview, versions, approvals, send time, expiry, live progress),
the preview frame (one per language), and the buttons: send a test to yourself, cancel.
Editing (``alert_edit``), translating (``alert_translations``), the review screen
(``alert_review``) and approving through the confirmation step (``alert_confirm``) use
this module's page and ``act``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from mailer import i18n
from mailer.alert_versions import ORIGINAL, Translation
from mailer.alerts import AlertError, get_alert
from mailer.content import render_campaign
from mailer.db import session_scope
from mailer.email.render import RenderedEmail, preview_values
from mailer.errors import MailerError
from mailer.models import Campaign
from mailer.outbox.campaigns import CampaignStateError
from mailer.sending import SendResult
from mailer.web.pages import factory_of, settings_of
from staff.actions import alerts
from staff.actions.actor import Actor
from staff.console.alert_view import alert_view_for
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.session import AdminIdentity
from staff.console.views import (
    EXPIRED_FORM,
    client_ip,
    email_html,
    page,
    problem,
    see_other,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]

REFRESH_SECONDS = 3
DONE = {
    "created": "Draft saved. Check the preview, send yourself a test, then approve.",
    "edited": "Changes saved.",
    "cleared": "Changes saved. The earlier approvals were for other words: they are cleared, "
    "and the alert must be approved again.",
    "unchanged": "Nothing changed.",
    "tested": "A test is on its way to you. With translations, you get one per version.",
    "translated": "Translation saved.",
    "translated-cleared": "Translation saved. The earlier approvals were for other words: they "
    "are cleared, and the alert must be approved again.",
    "untranslated": "Translation removed: its readers get the original.",
    "untranslated-cleared": "Translation removed: its readers get the original. The earlier "
    "approvals are cleared, and the alert must be approved again.",
    "approved": "Approved: the alert is going out now.",
    "scheduled": "Approved: the alert goes out at its send time.",
    "recorded": "Your approval is recorded.",
    "cancelled": "Alert cancelled: nothing more will be sent.",
}


def preview_of(
    request: Request, campaign: Campaign, address: str, language: str = ORIGINAL
) -> RenderedEmail:
    """The alert as readers of ``language`` get it (their links stand in)."""
    settings = settings_of(request)
    code = i18n.supported(language) or ORIGINAL
    with session_scope(factory_of(request)) as session:
        rendered = render_campaign(campaign, code, settings=settings, session=session)
    return rendered.with_slots(preview_values(settings, address))


def see_alert(alert_id: int, done: str = "") -> Response:
    """Back to the alert's page, with what was done (a ``DONE`` key) said there."""
    return see_other(f"/admin/alerts/{alert_id}" + (f"?done={done}" if done else ""))


def no_alert(request: Request, admin: AdminIdentity, alert_id: int) -> Response:
    return problem(request, admin, "No such alert", f"There is no alert {alert_id}.", 404)


def alert_page(
    request: Request,
    admin: AdminIdentity,
    alert_id: int,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
    typed: Translation | None = None,
) -> Response:
    """The alert's page; with ``typed``, that language's translation form shows what was
    typed (refused) instead of what is stored."""
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
    context = {
        "alert": view,
        "text": preview_of(request, campaign, admin.email).text,
        "notice": notice,
        "errors": {"form": error} if error else {},
        "refresh": REFRESH_SECONDS if view.row.live else 0,
        "typed": typed,
    }
    return page(request, "alert.html", context, admin=admin, section="campaigns", status=status)


@router.get("/admin/alerts/{alert_id}")
def show(request: Request, admin: Admin, alert_id: int, done: str = "") -> Response:
    return alert_page(request, admin, alert_id, notice=DONE.get(done, ""))


@router.get("/admin/alerts/{alert_id}/preview")
def preview(request: Request, admin: Admin, alert_id: int, lang: str = ORIGINAL) -> Response:
    """The alert's HTML exactly as a reader of ``lang`` gets it (their links stand in),
    for the frame."""
    with session_scope(factory_of(request)) as session:
        try:
            campaign = get_alert(alert_id, session=session)
        except AlertError:
            return no_alert(request, admin, alert_id)
    return email_html(preview_of(request, campaign, admin.email, lang).html)


@router.post("/admin/alerts/{alert_id}/test")
def send_test(
    request: Request, admin: Admin, alert_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Send every version of the alert, marked [TEST], to the admin who asks (and nobody
    else)."""

    def test_it(campaign: Campaign, actor: Actor, session: Session) -> list[SendResult] | Response:
        try:
            return alerts.send_test(
                campaign,
                admin.email,
                actor=actor,
                settings=settings_of(request),
                now=datetime.now(UTC),
                session=session,
            )
        except (MailerError, OSError) as exc:
            session.rollback()
            log.warning("alert test could not be sent: %s", exc.__class__.__name__)
            error = f"The test could not be sent: {exc}. Check R2P_SMTP_URL and the mail server."
            return alert_page(request, admin, alert_id, error=error, status=502)

    result = act(request, admin, alert_id, csrf_token, "tested", test_it)
    if isinstance(result, Response):
        return result
    refused = [each for each in result if each.verdict != "sent"]
    if refused:
        error = f"The mail server did not accept the test: {refused[0].code} {refused[0].reply}"
        return alert_page(request, admin, alert_id, error=error, status=502)
    return see_other(f"/admin/alerts/{alert_id}?done=tested")


def act(
    request: Request,
    admin: AdminIdentity,
    alert_id: int,
    csrf_token: str,
    verb: str,
    action: Callable[[Campaign, Actor, Session], T],
) -> T | Response:
    """Run one button's action on the alert in its own transaction; the alert page with
    the reason when the form is stale, the alert is missing or its state forbids it."""
    if not admin_csrf_ok(request, csrf_token):
        return alert_page(request, admin, alert_id, error=EXPIRED_FORM, status=400)
    actor = Actor.web(admin.email, client_ip(request))
    with session_scope(factory_of(request)) as session:
        try:
            campaign = get_alert(alert_id, session=session)
        except AlertError:
            return no_alert(request, admin, alert_id)
        try:
            return action(campaign, actor, session)
        except (AlertError, CampaignStateError) as exc:
            session.rollback()
            error = f"Not {verb}: {exc}."
            return alert_page(request, admin, alert_id, error=error, status=409)


@router.post("/admin/alerts/{alert_id}/cancel")
def cancel(
    request: Request, admin: Admin, alert_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    def cancel_it(campaign: Campaign, actor: Actor, session: Session) -> int:
        return alerts.cancel_alert(campaign, actor=actor, now=datetime.now(UTC), session=session)

    result = act(request, admin, alert_id, csrf_token, "cancelled", cancel_it)
    if isinstance(result, Response):
        return result
    return see_other(f"/admin/alerts/{alert_id}?done=cancelled")
