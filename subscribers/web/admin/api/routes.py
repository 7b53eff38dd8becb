"""The JSON admin API: alerts (create, status, approve, cancel), suggestions, health.

Each action does what its console button and CLI command do, audited under the same name
(``subscribers.web.admin.actions``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from mailer.alerts import AlertError, Draft, alert_status, draft_from_item, get_alert, suggestions
from mailer.config import Settings
from mailer.db import session_scope
from mailer.digest_content import item_topics
from mailer.durations import parse_duration
from mailer.models import Campaign
from mailer.observe import health
from mailer.outbox.campaigns import CampaignStateError
from subscribers.choices import ChoiceError, clean_topics, vocabulary
from subscribers.web.admin import actions
from subscribers.web.admin.alert_form import unix_lines
from subscribers.web.admin.api.auth import api_admin, api_error, no_store
from subscribers.web.admin.api.models import (
    AlertIn,
    AlertOut,
    ApprovalOut,
    CancelOut,
    HealthOut,
    Problem,
    SuggestionOut,
)
from subscribers.web.admin.session import AdminIdentity
from subscribers.web.admin.views import client_ip
from subscribers.web.pages import factory_of, settings_of, wake_worker

ApiAdmin = Annotated[AdminIdentity, Depends(api_admin)]
MAX_LIFETIME = timedelta(days=7)
UNAUTHORISED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or a wrong or revoked one."}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No alert with this id."}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Not possible in the alert's state (the reason)."}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "The alert was refused (the reason)."}
}

router = APIRouter(
    prefix="/api", tags=["admin API"], dependencies=[Depends(no_store)], responses=UNAUTHORISED
)


def _actor(request: Request, admin: AdminIdentity) -> actions.Actor:
    return actions.Actor(admin.email, client_ip(request), "api")


def _alert(alert_id: int, session: Session) -> Campaign:
    try:
        return get_alert(alert_id, session=session)
    except AlertError as exc:
        raise api_error(404, str(exc)) from None


def _out(campaign: Campaign, settings: Settings, session: Session) -> AlertOut:
    return AlertOut.of(alert_status(campaign, session=session), settings.alert_approvers)


def _lifetime(expires_in: str | None, default: timedelta) -> timedelta:
    if expires_in is None:
        return default
    try:
        lifetime = parse_duration(expires_in)
    except (ValueError, OverflowError) as exc:
        raise AlertError(f"expires_in: {exc}") from None
    if lifetime > MAX_LIFETIME:
        raise AlertError("expires_in: an alert may wait at most 7 days")
    return lifetime


def _draft(body: AlertIn, settings: Settings, session: Session) -> Draft:
    """The draft the request describes; empty fields come from ``item_id``'s item."""
    base = draft_from_item(body.item_id, session=session) if body.item_id is not None else None
    try:
        topics = clean_topics(body.topics, vocabulary(settings.relevance_file))
    except ChoiceError as exc:
        raise AlertError(str(exc)) from None
    return Draft(
        subject=body.subject or (base.subject if base else ""),
        body=unix_lines(body.body) or (base.body if base else ""),
        link=body.link or (base.link if base else ""),
        audience="topics" if topics else "all",
        topics=topics,
        item_id=body.item_id,
    )


@router.post(
    "/alerts",
    status_code=201,
    summary="Create a draft alert",
    response_description="The draft; nothing is sent until it is approved.",
    responses=INVALID,
)
def create_alert(request: Request, body: AlertIn, admin: ApiAdmin) -> AlertOut:
    settings = settings_of(request)
    with session_scope(factory_of(request)) as session:
        try:
            campaign = actions.create(
                _draft(body, settings, session),
                actor=_actor(request, admin),
                expires_in=_lifetime(body.expires_in, settings.alert_expires),
                now=datetime.now(UTC),
                session=session,
            )
        except AlertError as exc:
            raise api_error(422, str(exc)) from None
        return _out(campaign, settings, session)


@router.get("/alerts/{alert_id}", summary="An alert's status and progress", responses=NOT_FOUND)
def alert(request: Request, alert_id: int, admin: ApiAdmin) -> AlertOut:
    with session_scope(factory_of(request)) as session:
        return _out(_alert(alert_id, session), settings_of(request), session)


@router.post(
    "/alerts/{alert_id}/approve",
    summary="Approve an alert",
    description="Records your approval. With enough approvals (R2P_ALERT_APPROVERS; one "
    "admin counts once) the alert is queued at once and the worker woken.",
    responses={**NOT_FOUND, **CONFLICT},
)
def approve(request: Request, alert_id: int, admin: ApiAdmin) -> ApprovalOut:
    settings = settings_of(request)
    with session_scope(factory_of(request)) as session:
        campaign = _alert(alert_id, session)
        try:
            result = actions.approve_alert(
                campaign,
                actor=_actor(request, admin),
                settings=settings,
                now=datetime.now(UTC),
                session=session,
            )
        except (AlertError, CampaignStateError) as exc:
            raise api_error(409, str(exc)) from None
        out = _out(campaign, settings, session)
    if result.approved:
        wake_worker(request)
        message = f"Alert {alert_id} approved: {result.queued} delivery(ies) queued."
    else:
        message = (
            f"Approval {result.approvals} of {result.needed} recorded; another admin must approve."
        )
    return ApprovalOut(
        approved=result.approved,
        approvals=result.approvals,
        needed=result.needed,
        queued=result.queued,
        message=message,
        alert=out,
    )


@router.post(
    "/alerts/{alert_id}/cancel",
    summary="Cancel an alert, even mid-send",
    responses={**NOT_FOUND, **CONFLICT},
)
def cancel(request: Request, alert_id: int, admin: ApiAdmin) -> CancelOut:
    with session_scope(factory_of(request)) as session:
        campaign = _alert(alert_id, session)
        try:
            dropped = actions.cancel_alert(
                campaign, actor=_actor(request, admin), now=datetime.now(UTC), session=session
            )
        except CampaignStateError as exc:
            raise api_error(409, str(exc)) from None
        return CancelOut(cancelled=dropped, alert=_out(campaign, settings_of(request), session))


@router.get(
    "/suggestions",
    summary="Recent urgent-looking items not yet used for an alert",
    response_description="Candidates only: nothing is sent without an admin's approval.",
)
def suggested(request: Request, admin: ApiAdmin) -> list[SuggestionOut]:
    with session_scope(factory_of(request)) as session:
        return [
            SuggestionOut(
                item_id=item.id,
                title=item.title,
                url=item.url,
                source=item.source.key,
                published_at=item.published_at,
                summary=item.summary_text,
                tags=sorted(item_topics(item.tags)),
            )
            for item in suggestions(now=datetime.now(UTC), session=session)
        ]


@router.get("/health", summary="Database, scheduler, queue depth and feeds")
def service_health(request: Request, admin: ApiAdmin) -> HealthOut:
    with session_scope(factory_of(request)) as session:
        return HealthOut.model_validate(health(now=datetime.now(UTC), session=session))
