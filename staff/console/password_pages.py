"""/admin/password/<token>: where an emailed invitation or password reset link leads
(``mailer.admin_links``). A GET only shows the form (mail scanners follow links); the
POST, with its CSRF token, sets the password, which ends the link and every session of
the admin, and sends them to log in. A bad, expired or used link gets a page that says so.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from mailer.admin_links import PATH, AdminLinkError, LinkPurpose, read_link
from mailer.admins import AdminError
from mailer.db import session_scope
from mailer.web.pages import factory_of, now_of, settings_of
from staff.actions import accounts
from staff.actions.actor import Actor
from staff.console.auth import LOGIN, admin_csrf_ok
from staff.console.views import EXPIRED_FORM, client_ip, page, problem, see_other

router = APIRouter(include_in_schema=False)
PASSWORD_MAX = 1024
DIFFERENT = "The two passwords differ."


def _form(
    request: Request,
    token: str,
    email: str,
    purpose: LinkPurpose,
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    context = {
        "token": token,
        "email": email,
        "invite": purpose is LinkPurpose.INVITE,
        "errors": {"form": error} if error else {},
    }
    return page(request, "password.html", context, admin=None, status=status)


def _bad_link(request: Request, exc: AdminLinkError) -> Response:
    return problem(request, None, "This link does not work", f"Sorry: {exc}.", 410)


@router.get(PATH + "/{token}")
def password_form(request: Request, token: str) -> Response:
    with session_scope(factory_of(request)) as session:
        try:
            admin, purpose = read_link(
                settings_of(request), token, now=now_of(request), session=session
            )
        except AdminLinkError as exc:
            return _bad_link(request, exc)
        email = admin.email
    return _form(request, token, email, purpose)


@router.post(PATH + "/{token}")
def set_password(
    request: Request,
    token: str,
    password: Annotated[str, Form()] = "",
    again: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    now = now_of(request)
    with session_scope(factory_of(request)) as session:
        try:
            admin, purpose = read_link(settings_of(request), token, now=now, session=session)
        except AdminLinkError as exc:
            return _bad_link(request, exc)
        email = admin.email
        if not admin_csrf_ok(request, csrf_token):
            error = EXPIRED_FORM
        elif password != again:
            error = DIFFERENT
        elif len(password) > PASSWORD_MAX:
            error = f"A password of at most {PASSWORD_MAX} characters, please."
        else:
            try:
                accounts.choose_password(
                    admin,
                    password,
                    purpose=purpose,
                    actor=Actor.web(email, client_ip(request)),
                    now=now,
                    session=session,
                )
                error = ""
            except AdminError as exc:
                error = str(exc).capitalize() + "."
        if error:
            session.rollback()
    if error:
        return _form(request, token, email, purpose, error=error, status=400)
    return see_other(f"{LOGIN}?password_set=1")
