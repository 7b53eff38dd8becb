"""The JSON admin API: alerts (create, edit, status, approve, cancel; their translations in
``staff.api.translations``), suggestions, health.

Each action does what its console button and CLI command do, audited under the same name
(``staff.actions``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from mailer.alerts import (
    AlertError,
    Draft,
    Schedule,
    alert_status,
    content_of,
    get_alert,
    parse_send_time,
    suggestions,
)
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
from staff.api import translations
from staff.api.auth import api_admin, api_error, no_store
from staff.api.models import (
    AlertEdit,
    AlertIn,
    AlertOut,
    ApprovalOut,
    ApproveIn,
    CancelOut,
    EditOut,
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
router.include_router(translations.router)


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


def _send_time(at: datetime | None, settings: Settings) -> datetime | None:
    """A send time in UTC; one without an offset is read in R2P_CONSOLE_TIMEZONE."""
    if at is None or at.tzinfo is not None:
        return at.astimezone(UTC) if at is not None else None
    return parse_send_time(at.isoformat(), settings.console_timezone)


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
                send_at=_send_time(body.send_at, settings),
            )
        except AlertError as exc:
            raise api_error(422, str(exc)) from None
        return _out(campaign, settings, session)


@router.patch(
    "/alerts/{alert_id}",
    summary="Edit a draft alert or its send time",
    description="Until it is approved. Fields left out stay as they are. A change of the "
    "subject, body, link or topics clears the approvals given so far; a new send_at alone "
    "keeps them. Audited as alert.edit with the changed fields before and after.",
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
)
def edit_alert(request: Request, alert_id: int, body: AlertEdit, admin: ApiAdmin) -> EditOut:
    settings = settings_of(request)
    given = body.model_fields_set
    with session_scope(factory_of(request)) as session:
        campaign = _alert(alert_id, session)
        try:
            draft = None
            if given & {"subject", "body", "link", "topics"}:
                current = content_of(campaign)
                topics = current["topics"] if body.topics is None else body.topics
                if body.topics is not None:
                    audience = "topics" if any(t.strip() for t in body.topics) else "all"
                else:
                    audience = current["audience"]
                draft = Draft(
                    subject=current["subject"] if body.subject is None else body.subject,
                    body=current["body"] if body.body is None else unix_lines(body.body),
                    link=current["link"] if body.link is None else body.link,
                    audience=audience,
                    topics=tuple(topics) if audience == "topics" else (),
                    item_id=campaign.context.get("item_id"),
                )
            schedule = Schedule(_send_time(body.send_at, settings)) if "send_at" in given else None
            result = alerts.edit(
                campaign,
                draft,
                schedule=schedule,
                actor=_actor(request, admin),
                settings=settings,
                now=datetime.now(UTC),
                session=session,
            )
        except AlertError as exc:
            raise api_error(422, str(exc)) from None
        except CampaignStateError as exc:
            raise api_error(409, str(exc)) from None
        return EditOut(
            before=result.before,
            after=result.after,
            approvals_cleared=result.approvals_cleared,
            alert=_out(campaign, settings, session),
        )


@router.get("/alerts/{alert_id}", summary="An alert's status and progress", responses=NOT_FOUND)
def alert(request: Request, alert_id: int, admin: ApiAdmin) -> AlertOut:
    with session_scope(factory_of(request)) as session:
        return _out(_alert(alert_id, session), settings_of(request), session)


@router.post(
    "/alerts/{alert_id}/approve",
    summary="Approve an alert",
    description="Records your approval. With enough approvals (R2P_ALERT_APPROVERS; one "
    "admin counts once) the alert is queued at once and the worker woken, or, with a send "
    'time in the future, waits as scheduled. With {"version": ...} (from the alert\'s '
    "status) it is refused if the alert changed since you read it.",
    responses={**NOT_FOUND, **CONFLICT},
)
def approve(
    request: Request, alert_id: int, admin: ApiAdmin, body: ApproveIn | None = None
) -> ApprovalOut:
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
                version=body.version if body is not None else None,
            )
        except (AlertError, CampaignStateError) as exc:
            raise api_error(409, str(exc)) from None
        out = _out(campaign, settings, session)
    if result.send_at is not None:
        message = f"Alert {alert_id} approved: it goes out at {result.send_at:%Y-%m-%d %H:%M} UTC."
    elif result.approved:
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
