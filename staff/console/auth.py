"""Who may see the admin pages: the ``require_admin`` dependency and where it sends
everyone else (the login page, then back to the page they asked for); and the admin
forms' CSRF check, bound to the session (``admin_csrf_ok``).

With ``R2P_ADMIN_REQUIRE_2FA=true`` an admin without a second factor is sent to its
enrolment page from every other page (``require_signed_in`` lets them reach it, and log
out)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from mailer import twofactor
from mailer.db import session_scope
from mailer.models import Admin
from mailer.web import csrf
from mailer.web.pages import SECURITY_HEADERS, csrf_ok, factory_of, now_of, settings_of
from staff.console import session as admin_session
from staff.console.session import AdminIdentity

LOGIN = "/admin/login"
HOME = "/admin"
ENROL = "/admin/account/2fa"
# Only our own admin pages: never another site, a scheme-relative //host, or "..".
_SAFE_NEXT = re.compile(r"/admin(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*/?")


class LoginRequiredError(Exception):
    """Raised by ``require_admin``; answered with a redirect to the login page."""

    def __init__(self, next_path: str, *, expired: bool) -> None:
        super().__init__("login required")
        self.next_path = next_path
        self.expired = expired


class EnrolmentRequiredError(Exception):
    """Raised by ``require_admin`` when a second factor is required and not enrolled."""


def safe_next(path: str) -> str:
    return path if _SAFE_NEXT.fullmatch(path) and path != LOGIN else HOME


def session_cookie(request: Request) -> str | None:
    return request.cookies.get(admin_session.cookie_name(settings_of(request)))


def csrf_session(request: Request) -> str:
    """What admin forms bind their CSRF token to: this session (or none, before login)."""
    return csrf.session_binding(settings_of(request).signing_key, session_cookie(request))


def admin_csrf_ok(request: Request, token: str) -> bool:
    """The token was made for this browser's CSRF cookie and this very admin session."""
    return csrf_ok(request, token, session=csrf_session(request))


def session_admin(request: Request) -> tuple[AdminIdentity | None, bool]:
    """(the logged-in admin or None, whether a genuine session has run out)."""
    settings = settings_of(request)
    claims = admin_session.read(settings.signing_key, session_cookie(request))
    if claims is None:
        return None, False
    if claims.expired(settings.admin_session_max_age, now_of(request)):
        return None, True
    with session_scope(factory_of(request)) as session:
        admin = session.get(Admin, claims.admin_id)
        if admin is None or not admin_session.still_valid(settings.signing_key, claims, admin):
            return None, True
        return identity(admin), False


def identity(admin: Admin) -> AdminIdentity:
    return AdminIdentity(admin.id, admin.email, admin.role, twofactor.enabled(admin))


def require_signed_in(request: Request) -> AdminIdentity:
    """The logged-in admin, second factor or not; otherwise LoginRequiredError
    (expired: the session was real)."""
    admin, expired = session_admin(request)
    if admin is None:
        next_path = safe_next(request.url.path) if request.method == "GET" else HOME
        raise LoginRequiredError(next_path, expired=expired)
    return admin


def require_admin(request: Request) -> AdminIdentity:
    """The logged-in admin, with a second factor where R2P_ADMIN_REQUIRE_2FA asks one
    (EnrolmentRequiredError otherwise); LoginRequiredError for nobody."""
    admin = require_signed_in(request)
    if settings_of(request).admin_require_2fa and not admin.two_factor:
        raise EnrolmentRequiredError
    return admin


def login_url(next_path: str = HOME, *, expired: bool = False) -> str:
    query = {"next": next_path} if next_path != HOME else {}
    if expired:
        query["expired"] = "1"
    return f"{LOGIN}?{urlencode(query)}" if query else LOGIN


async def login_required_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequiredError)
    response = RedirectResponse(
        login_url(exc.next_path, expired=exc.expired), status_code=303, headers=SECURITY_HEADERS
    )
    if exc.expired:
        admin_session.clear_cookie(response, settings_of(request))
    return response


async def enrolment_required_handler(request: Request, exc: Exception) -> Response:
    return RedirectResponse(ENROL, status_code=303, headers=SECURITY_HEADERS)
