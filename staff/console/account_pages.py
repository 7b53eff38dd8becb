"""/admin/accounts: the staff accounts (role, state, second factor, last login, failed
logins in the limiter's window), open to every admin to read; and, for owners, what to do
about them: invite a new admin by email, change a role, mail a password reset link,
unlock (forget the failed logins), remove a second factor, deactivate or reactivate.

Every change is a staff action (``staff.actions.accounts``, owners only: others get the
403 page); the buttons are shown only to owners.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mailer.admins import AdminError
from mailer.db import get_by_id, session_scope
from mailer.errors import MailerError
from mailer.models import Admin
from mailer.roles import DESCRIPTIONS, Role, parse_role
from mailer.web.pages import factory_of, now_of, settings_of
from staff.actions import accounts
from staff.actions.actor import Actor, NotAllowedError
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.login import limits_of
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, page, see_other

router = APIRouter(include_in_schema=False)
AdminDep = Annotated[AdminIdentity, Depends(require_admin)]
PATH = "/admin/accounts"
DONE = {
    "invited": "Invitation sent: the link in it works once, for a limited time.",
    "role": "Role changed; it applies at once.",
    "reset": "Password link sent to them.",
    "unlocked": "Unlocked: their failed logins are forgotten.",
    "2fa": "Second factor removed: they log in with their password alone.",
    "deactivated": "Deactivated: their sessions ended and their API tokens were revoked.",
    "reactivated": "Reactivated: they can log in again.",
}


def _list_page(
    request: Request,
    admin: AdminIdentity,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    invite: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    limits = limits_of(request)
    now = now_of(request)
    with session_scope(factory_of(request)) as session:
        rows = accounts.listing(actor=_actor(request, admin), session=session)
    context: dict[str, Any] = {
        "rows": rows,
        "failures": {row.email: limits.failures(row.email, now) for row in rows},
        "roles": [(role.value, DESCRIPTIONS[role]) for role in Role],
        "invite": invite or {"email": "", "role": Role.VIEWER.value},
        "notice": notice,
        "errors": errors or {},
    }
    return page(request, "accounts.html", context, admin=admin, section="accounts", status=status)


def _actor(request: Request, admin: AdminIdentity) -> Actor:
    return Actor.web(admin.email, client_ip(request))


@router.get(PATH)
def account_list(request: Request, admin: AdminDep, done: str = "") -> Response:
    return _list_page(request, admin, notice=DONE.get(done, ""))


@router.post(PATH + "/invite")
def invite(
    request: Request,
    admin: AdminDep,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    form = {"email": email[:320], "role": role[:16]}
    if not admin_csrf_ok(request, csrf_token):
        return _list_page(request, admin, errors={"form": EXPIRED_FORM}, invite=form, status=400)
    try:
        chosen = parse_role(role)
    except ValueError as exc:
        return _list_page(request, admin, errors={"role": str(exc)}, invite=form, status=400)
    try:
        with session_scope(factory_of(request)) as session:
            accounts.invite(
                email,
                chosen,
                actor=_actor(request, admin),
                settings=settings_of(request),
                now=now_of(request),
                session=session,
            )
    except NotAllowedError:
        raise
    except (MailerError, OSError) as exc:
        return _list_page(request, admin, errors={"email": str(exc)}, invite=form, status=400)
    return see_other(f"{PATH}?done=invited")


# A staff action on one admin: (admin, *, actor, now, session) plus its own keywords.
Action = Callable[..., object]


def _act(
    request: Request,
    who: AdminIdentity,
    admin_id: int,
    csrf_token: str,
    action: Action,
    done: str,
    **extra: Any,
) -> Response:
    """Run ``action`` on the admin in one transaction, then back to the list with ``done``
    (or the list with the reason it was refused)."""
    if not admin_csrf_ok(request, csrf_token):
        return _list_page(request, who, errors={"form": EXPIRED_FORM}, status=400)
    try:
        with session_scope(factory_of(request)) as session:
            target = get_by_id(Admin, admin_id, session=session)
            if target is None:
                raise AdminError("There is no such admin.")
            action(
                target, actor=_actor(request, who), now=now_of(request), session=session, **extra
            )
    except NotAllowedError:
        raise
    except (MailerError, OSError) as exc:
        return _list_page(request, who, errors={"form": str(exc)}, status=409)
    return see_other(f"{PATH}?done={done}")


Csrf = Annotated[str, Form()]


@router.post(PATH + "/{admin_id}/role")
def change_role(
    request: Request,
    admin: AdminDep,
    admin_id: int,
    role: Annotated[str, Form()] = "",
    csrf_token: Csrf = "",
) -> Response:
    try:
        chosen = parse_role(role)
    except ValueError as exc:
        return _list_page(request, admin, errors={"form": str(exc)}, status=400)
    return _act(request, admin, admin_id, csrf_token, accounts.change_role, "role", role=chosen)


@router.post(PATH + "/{admin_id}/reset")
def reset_password(
    request: Request, admin: AdminDep, admin_id: int, csrf_token: Csrf = ""
) -> Response:
    return _act(
        request,
        admin,
        admin_id,
        csrf_token,
        accounts.reset_password,
        "reset",
        settings=settings_of(request),
    )


@router.post(PATH + "/{admin_id}/unlock")
def unlock(request: Request, admin: AdminDep, admin_id: int, csrf_token: Csrf = "") -> Response:
    return _act(
        request,
        admin,
        admin_id,
        csrf_token,
        accounts.unlock,
        "unlocked",
        settings=settings_of(request),
    )


@router.post(PATH + "/{admin_id}/2fa-reset")
def reset_two_factor(
    request: Request, admin: AdminDep, admin_id: int, csrf_token: Csrf = ""
) -> Response:
    return _act(request, admin, admin_id, csrf_token, accounts.reset_two_factor, "2fa")


@router.post(PATH + "/{admin_id}/deactivate")
def deactivate(request: Request, admin: AdminDep, admin_id: int, csrf_token: Csrf = "") -> Response:
    return _act(request, admin, admin_id, csrf_token, accounts.deactivate, "deactivated")


@router.post(PATH + "/{admin_id}/reactivate")
def reactivate(request: Request, admin: AdminDep, admin_id: int, csrf_token: Csrf = "") -> Response:
    return _act(request, admin, admin_id, csrf_token, accounts.reactivate, "reactivated")
