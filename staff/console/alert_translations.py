"""Translating a draft alert from its page: one form per language (save, or remove), each
through the audited ``staff.actions.alerts.translate`` / ``untranslate``. A change
clears the approvals given so far, like an edit of the words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from mailer.alert_translations import TranslationChange
from mailer.alert_versions import Translation, TranslationError
from mailer.models import Campaign
from staff.actions import alerts
from staff.actions.actor import Actor
from staff.console.alert_pages import act, alert_page, see_alert
from staff.console.auth import require_admin
from staff.console.session import AdminIdentity

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]


def _done(change: TranslationChange) -> str:
    if not change.changed:
        return "unchanged"
    verb = "translated" if change.after is not None else "untranslated"
    return f"{verb}-cleared" if change.approvals_cleared else verb


def _change(
    request: Request,
    admin: AdminIdentity,
    alert_id: int,
    csrf_token: str,
    typed: Translation | None,
    change: Callable[[Campaign, Actor, Session], TranslationChange],
) -> Response:
    def run(campaign: Campaign, actor: Actor, session: Session) -> TranslationChange | Response:
        try:
            return change(campaign, actor, session)
        except TranslationError as exc:
            session.rollback()
            error = f"Translation not saved: {exc}."
            return alert_page(request, admin, alert_id, error=error, status=400, typed=typed)

    result = act(request, admin, alert_id, csrf_token, "saved", run)
    if isinstance(result, Response):
        return result
    return see_alert(alert_id, _done(result))


@router.post("/admin/alerts/{alert_id}/translations/{language}")
def save_translation(
    request: Request,
    admin: Admin,
    alert_id: int,
    language: str,
    subject: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    link_text: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    typed = Translation(language, subject, body, link_text)

    def save(campaign: Campaign, actor: Actor, session: Session) -> TranslationChange:
        return alerts.translate(
            campaign, typed, actor=actor, now=datetime.now(UTC), session=session
        )

    return _change(request, admin, alert_id, csrf_token, typed, save)


@router.post("/admin/alerts/{alert_id}/translations/{language}/remove")
def remove_translation(
    request: Request,
    admin: Admin,
    alert_id: int,
    language: str,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    def remove(campaign: Campaign, actor: Actor, session: Session) -> TranslationChange:
        return alerts.untranslate(
            campaign, language, actor=actor, now=datetime.now(UTC), session=session
        )

    return _change(request, admin, alert_id, csrf_token, None, remove)
