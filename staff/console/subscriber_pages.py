"""/admin/subscribers: readers by status, finding one by exact address, and removing one.

The search is a POST so that addresses stay out of access logs and browser history.
Removing is the reader's own erasure (subscribers.gdpr), audited as subscriber.remove.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mailer.db import get_by_id, session_scope
from mailer.models import Subscriber
from mailer.web.pages import factory_of, settings_of
from staff.actions import readers
from staff.actions.actor import Actor
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.overview import active_reach, reader_counts
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, page
from subscribers.addresses import InvalidAddressError, normalise_address
from subscribers.choices import describe, vocabulary
from subscribers.lookup import find_by_email
from subscribers.mails import choices_of
from subscribers.web.forms import CHECKED

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
PATH = "/admin/subscribers"
REMOVED = "The subscriber is removed: everything we held about them is deleted."


def _page(
    request: Request,
    admin: AdminIdentity,
    *,
    email: str = "",
    found: Subscriber | None = None,
    searched: bool = False,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    known = vocabulary(settings_of(request).relevance_file)
    with session_scope(factory_of(request)) as session:
        counts = reader_counts(session=session)
        reach = active_reach(session=session)
    context: dict[str, Any] = {
        "counts": counts,
        "reach": reach,
        "email": email[:400],
        "found": found,
        "searched": searched,
        "receives": describe(choices_of(found), known) if found is not None else "",
        "errors": errors or {},
        "notice": notice,
    }
    return page(
        request, "subscribers.html", context, admin=admin, section="subscribers", status=status
    )


@router.get(PATH)
def subscribers(request: Request, admin: Admin) -> Response:
    return _page(request, admin)


@router.post(PATH)
def search(
    request: Request,
    admin: Admin,
    email: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not admin_csrf_ok(request, csrf_token):
        return _page(request, admin, email=email, errors={"form": EXPIRED_FORM}, status=400)
    try:
        address = normalise_address(email)
    except InvalidAddressError as exc:
        return _page(request, admin, email=email, errors={"email": str(exc)}, status=400)
    with session_scope(factory_of(request)) as session:
        found = find_by_email(address, session=session)
    return _page(request, admin, email=address, found=found, searched=True)


@router.post(PATH + "/{subscriber_id}/remove")
def remove(
    request: Request,
    admin: Admin,
    subscriber_id: int,
    confirm_remove: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    errors: dict[str, str] = {}
    with session_scope(factory_of(request)) as session:
        subscriber = get_by_id(Subscriber, subscriber_id, session=session)
        if not admin_csrf_ok(request, csrf_token):
            errors["form"] = EXPIRED_FORM
        elif confirm_remove != CHECKED:
            errors["remove"] = "Tick the box to confirm the removal."
        elif subscriber is not None:
            actor = Actor.web(admin.email, client_ip(request))
            readers.remove(subscriber, actor=actor, now=datetime.now(UTC), session=session)
    if subscriber is None:
        gone = {"form": "That subscriber no longer exists (already removed?)."}
        return _page(request, admin, errors=gone, status=404)
    if errors:
        return _page(
            request,
            admin,
            email=subscriber.email,
            found=subscriber,
            searched=True,
            errors=errors,
            status=400,
        )
    log.info("admin %d removed subscriber %d", admin.id, subscriber_id)
    return _page(request, admin, notice=REMOVED)
