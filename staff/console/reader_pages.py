"""/admin/subscribers/<id>: one reader as staff see them (status, choices, consent record
and history, their mail with bounces and failures, the bounce and complaint reports about
it with the raw report, escaped), and what staff may do about them:
change their choices, suppress them or allow them again, and erase them after a
confirmation page that says what goes.

Every change is a staff action (staff.actions.readers), audited by the row id, never the
address; the id in the URL is not personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from mailer.db import get_by_id, session_scope
from mailer.models import Subscriber
from mailer.web.pages import factory_of, settings_of
from staff.actions import readers
from staff.actions.actor import Actor
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.session import AdminIdentity
from staff.console.subscriber_pages import PATH, list_page
from staff.console.views import EXPIRED_FORM, client_ip, page, problem, see_other
from subscribers.choices import ChoiceError, describe, vocabulary
from subscribers.consent import history
from subscribers.listing import mail_count, mail_of, reports_of, suppressed_by
from subscribers.mails import choices_of
from subscribers.web.forms import CHECKED, ChoiceFields

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
READER = PATH + "/{subscriber_id}"
REMOVED = "The subscriber is removed: everything we held about them is deleted."
DONE = {
    "choices": "Their choices are saved.",
    "suppressed": "Suppressed: they get no more mail; anything queued for them is cancelled.",
    "allowed": "Allowed again: they get what they chose from the next mailing.",
}
GONE = "That subscriber no longer exists (removed?)."


def _gone(request: Request, admin: AdminIdentity) -> Response:
    return problem(request, admin, "Subscriber not found", GONE, 404)


def _reader_context(request: Request, subscriber: Subscriber, session: Session) -> dict[str, Any]:
    known = vocabulary(settings_of(request).relevance_file)
    reports = reports_of(subscriber.id, session=session)
    return {
        "reader": subscriber,
        "receives": describe(choices_of(subscriber), known),
        "consents": list(reversed(history(subscriber.id, session=session))),
        "mail": mail_of(subscriber.id, session=session),
        "reports": reports,
        "suppressed_by": suppressed_by(reports),
        "may_allow": readers.may_allow_again(subscriber, session=session),
        "suppressible": subscriber.status in ("active", "pending", "bounced"),
    }


def reader_page(
    request: Request,
    admin: AdminIdentity,
    subscriber_id: int,
    *,
    fields: ChoiceFields | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    with session_scope(factory_of(request)) as session:
        subscriber = get_by_id(Subscriber, subscriber_id, session=session)
        if subscriber is None:
            return _gone(request, admin)
        context = _reader_context(request, subscriber, session)
    context |= {
        "fields": fields or ChoiceFields.of(subscriber),
        "errors": errors or {},
        "notice": notice,
    }
    return page(
        request, "subscriber.html", context, admin=admin, section="subscribers", status=status
    )


@router.get(READER)
def reader(request: Request, admin: Admin, subscriber_id: int, done: str = "") -> Response:
    return reader_page(request, admin, subscriber_id, notice=DONE.get(done, ""))


@router.post(READER + "/choices")
def change_choices(
    request: Request,
    admin: Admin,
    subscriber_id: int,
    language: Annotated[str, Form()] = "en",
    digest: Annotated[str, Form()] = "",
    alerts: Annotated[str, Form()] = "",
    topics_mode: Annotated[str, Form()] = "all",
    topics: Annotated[list[str] | None, Form()] = None,
    english: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    fields = ChoiceFields.submitted(
        language=language,
        digest=digest,
        alerts=alerts,
        topics_mode=topics_mode,
        topics=topics or [],
        english=english,
    )
    if not admin_csrf_ok(request, csrf_token):
        errors = {"form": EXPIRED_FORM}
        return reader_page(request, admin, subscriber_id, fields=fields, errors=errors, status=400)
    try:
        choices = fields.choices(vocabulary(settings_of(request).relevance_file))
    except ChoiceError as exc:
        errors = {exc.field: str(exc)}
        return reader_page(request, admin, subscriber_id, fields=fields, errors=errors, status=400)
    return _act_and_show(
        request,
        admin,
        subscriber_id,
        partial(readers.change_choices, choices=choices),
        done="choices",
    )


# A staff action on one reader: (subscriber, *, actor, now, session).
Action = Callable[..., object]


def _act(
    request: Request, admin: AdminIdentity, subscriber_id: int, action: Action
) -> Response | None:
    """Run a staff action on the reader in one transaction: None when it is done, else the
    page that says why not (the reader is gone, or their state forbids it)."""
    with session_scope(factory_of(request)) as session:
        subscriber = get_by_id(Subscriber, subscriber_id, session=session)
        if subscriber is None:
            return _gone(request, admin)
        actor = Actor.web(admin.email, client_ip(request))
        try:
            action(subscriber, actor=actor, now=datetime.now(UTC), session=session)
        except readers.NotAllowedAgainError as exc:
            session.rollback()
            error = {"status": str(exc)}
            return reader_page(request, admin, subscriber_id, errors=error, status=409)
    return None


def _act_and_show(
    request: Request, admin: AdminIdentity, subscriber_id: int, action: Action, *, done: str
) -> Response:
    """The action, then the reader's page saying it is done."""
    problem = _act(request, admin, subscriber_id, action)
    return see_other(f"{PATH}/{subscriber_id}?done={done}") if problem is None else problem


def _form_expired(request: Request, admin: AdminIdentity, subscriber_id: int) -> Response:
    errors = {"form": EXPIRED_FORM}
    return reader_page(request, admin, subscriber_id, errors=errors, status=400)


def _status_change(
    request: Request,
    admin: AdminIdentity,
    subscriber_id: int,
    token: str,
    action: Action,
    done: str,
) -> Response:
    if not admin_csrf_ok(request, token):
        return _form_expired(request, admin, subscriber_id)
    return _act_and_show(request, admin, subscriber_id, action, done=done)


@router.post(READER + "/suppress")
def suppress(
    request: Request, admin: Admin, subscriber_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    return _status_change(request, admin, subscriber_id, csrf_token, readers.suppress, "suppressed")


@router.post(READER + "/allow")
def allow(
    request: Request, admin: Admin, subscriber_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    return _status_change(request, admin, subscriber_id, csrf_token, readers.allow_again, "allowed")


def _confirm_page(
    request: Request,
    admin: AdminIdentity,
    subscriber_id: int,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with session_scope(factory_of(request)) as session:
        subscriber = get_by_id(Subscriber, subscriber_id, session=session)
        if subscriber is None:
            return _gone(request, admin)
        context = {
            "reader": subscriber,
            "consents": len(history(subscriber.id, session=session)),
            "mail": mail_count(subscriber.id, session=session),
            "errors": errors or {},
        }
    return page(
        request,
        "subscriber_remove.html",
        context,
        admin=admin,
        section="subscribers",
        status=status,
    )


@router.get(READER + "/remove")
def confirm_remove(request: Request, admin: Admin, subscriber_id: int) -> Response:
    """The confirmation step: what erasing this reader deletes, and the button."""
    return _confirm_page(request, admin, subscriber_id)


@router.post(READER + "/remove")
def remove(
    request: Request,
    admin: Admin,
    subscriber_id: int,
    confirm_remove: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not admin_csrf_ok(request, csrf_token):
        errors = {"form": EXPIRED_FORM}
        return _confirm_page(request, admin, subscriber_id, errors=errors, status=400)
    if confirm_remove != CHECKED:
        errors = {"remove": "Tick the box to confirm the removal."}
        return _confirm_page(request, admin, subscriber_id, errors=errors, status=400)
    problem = _act(request, admin, subscriber_id, readers.remove)
    if problem is not None:
        return problem
    log.info("admin %d removed subscriber %d", admin.id, subscriber_id)
    return list_page(request, admin, notice=REMOVED)
