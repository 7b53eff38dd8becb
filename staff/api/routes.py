"""The JSON admin API: alerts (create, status, approve, cancel), suggestions, health.

Each action does what its console button and CLI command do, audited under the same name
(``staff.actions``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from mailer.alerts import AlertError, Draft, alert_status, get_alert, suggestions
from mailer.config import Settings
from mailer.db import session_scope
from mailer.digest_content import item_topics
from mailer.durations import parse_duration
from mailer.models import Campaign
from mailer.observe import health
from mailer.outbox.campaigns import CampaignStateError
from mailer.web.pages import factory_of, settings_of, wake_worker
from staff.actions import alerts
from staff.actions.actor import Actor
from staff.api.auth import api_admin, api_error, no_store
from staff.api.models import (
    AlertIn,
    AlertOut,
    ApprovalOut,
    CancelOut,
    HealthOut,
    Problem,
    SuggestionOut,
)
from staff.console.alert_form import unix_lines
from staff.console.session import AdminIdentity
from staff.console.views import client_ip

ApiAdmin = Annotated[AdminIdentity, Depends(api_admin)]
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


def _actor(request: Request, admin: AdminIdentity) -> Actor:
    return Actor.api(admin.email, client_ip(request))


def _alert(alert_id: int, session: Session) -> Campaign:
    try:
        return get_alert(alert_id, session=session)
    except AlertError as exc:
        raise api_error(404, str(exc)) from None


def _out(campaign: Campaign, settings: Settings, session: Session) -> AlertOut:
    return AlertOut.of(alert_status(campaign, session=session), settings.alert_approvers)


def _lifetime(expires_in: str | None) -> timedelta | None:
    if expires_in is None:
        return None
    try:
        return parse_duration(expires_in)
    except (ValueError, OverflowError) as exc:
        raise AlertError(f"expires_in: {exc}") from None


def _draft(body: AlertIn) -> Draft:
    """The draft the request describes; empty fields come from ``item_id``'s item."""
    return Draft(
        subject=body.subject,
        body=unix_lines(body.body),
        link=body.link,
        audience="topics" if any(t.strip() for t in body.topics) else "all",
        topics=tuple(body.topics),
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
            campaign = alerts.create(
                alerts.from_item(_draft(body), session=session),
                expires_in=_lifetime(body.expires_in),
                actor=_actor(request, admin),
                settings=settings,
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
            result = alerts.approve_alert(
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
            dropped = alerts.cancel_alert(
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
