"""The JSON admin API's alert translations: ``PUT`` and ``DELETE
/api/alerts/{id}/translations/{lang}``, the same action (and audit entry) as the
console's translation form and ``r2p-mailer alert translate``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from mailer.alert_translations import TranslationChange
from mailer.alert_versions import Translation, TranslationError
from mailer.alerts import AlertError, alert_status, get_alert
from mailer.db import session_scope
from mailer.models import Campaign
from mailer.outbox.campaigns import CampaignStateError
from mailer.web.pages import factory_of, settings_of
from staff.actions import alerts
from staff.actions.actor import Actor
from staff.api.auth import api_admin, api_error
from staff.api.models import AlertOut, Problem, TranslationIn, TranslationOut
from staff.console.session import AdminIdentity
from staff.console.views import client_ip

ApiAdmin = Annotated[AdminIdentity, Depends(api_admin)]
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No alert with this id."},
    409: {"model": Problem, "description": "The alert is no longer a draft (the reason)."},
    422: {"model": Problem, "description": "The translation was refused (the reason)."},
}
PATH = "/alerts/{alert_id}/translations/{language}"

router = APIRouter()


def _change(
    request: Request,
    alert_id: int,
    admin: AdminIdentity,
    act: Callable[[Campaign, Actor, Session], TranslationChange],
) -> TranslationOut:
    settings = settings_of(request)
    with session_scope(factory_of(request)) as session:
        try:
            campaign = get_alert(alert_id, session=session)
        except AlertError as exc:
            raise api_error(404, str(exc)) from None
        try:
            change = act(campaign, Actor.api(admin.email, client_ip(request)), session)
        except TranslationError as exc:
            raise api_error(422, str(exc)) from None
        except CampaignStateError as exc:
            raise api_error(409, str(exc)) from None
        status = alert_status(campaign, session=session)
        return TranslationOut(
            language=change.language,
            before=change.before,
            after=change.after,
            approvals_cleared=change.approvals_cleared,
            alert=AlertOut.of(status, settings.alert_approvers),
        )


@router.put(
    PATH,
    summary="Add or replace a draft alert's translation",
    description="Readers whose language is {language} (ar, es, fr, ru or zh) get these words "
    "instead of the original. Until it is approved; a change clears the approvals given so "
    "far. Audited as alert.translate with the words before and after.",
    responses=RESPONSES,
)
def put_translation(
    request: Request, alert_id: int, language: str, body: TranslationIn, admin: ApiAdmin
) -> TranslationOut:
    draft = Translation(language, body.subject, body.body, body.link_text)

    def act(campaign: Campaign, actor: Actor, session: Session) -> TranslationChange:
        return alerts.translate(
            campaign, draft, actor=actor, now=datetime.now(UTC), session=session
        )

    return _change(request, alert_id, admin, act)


@router.delete(
    PATH,
    summary="Remove a draft alert's translation",
    description="Its readers in {language} get the original again, with a line saying no "
    "version was written in their language. Clears the approvals given so far; audited as "
    "alert.translation.remove.",
    responses=RESPONSES,
)
def delete_translation(
    request: Request, alert_id: int, language: str, admin: ApiAdmin
) -> TranslationOut:
    def act(campaign: Campaign, actor: Actor, session: Session) -> TranslationChange:
        return alerts.untranslate(
            campaign, language, actor=actor, now=datetime.now(UTC), session=session
        )

    return _change(request, alert_id, admin, act)
