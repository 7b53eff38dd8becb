"""Logging in and out of the admin console.

A wrong password, an unknown address and a deactivated account get the same answer at
the same cost (``mailer.admins.authenticate``). Attempts are limited per account
(R2P_LOGIN_RATE_LIMIT per R2P_LOGIN_RATE_WINDOW) and per network (``PER_NETWORK`` times
that: an office shares one address); the limit counts every attempt, and is counted for
unknown accounts too, so it says nothing about which accounts exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from mailer.admins import audit, authenticate, end_sessions
from mailer.config import Settings
from mailer.db import session_scope
from subscribers.ratelimit import RateLimiter
from subscribers.web.admin import session as admin_session
from subscribers.web.admin.auth import HOME, LOGIN, require_admin, safe_next, session_admin
from subscribers.web.admin.session import AdminIdentity
from subscribers.web.admin.timefmt import span
from subscribers.web.admin.views import EXPIRED_FORM, client_ip, page, see_other
from subscribers.web.pages import client_of, csrf_ok, factory_of, settings_of

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

PER_NETWORK = 4
WRONG = "Wrong email address or password."
EXPIRED_SESSION = "Your session has expired. Please log in again."
LOGGED_OUT = "You are logged out."
PASSWORD_MAX = 1024
ACCOUNT_MAX = 320


@dataclass(frozen=True)
class LoginLimits:
    per_account: RateLimiter
    per_network: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings, factory: sessionmaker[Session]) -> LoginLimits:
        limit, window = settings.login_rate_limit, settings.login_rate_window
        key = settings.signing_key
        return cls(
            RateLimiter("login-account", limit, window, factory=factory, secret=key),
            RateLimiter("login-network", limit * PER_NETWORK, window, factory=factory, secret=key),
        )

    def allow(self, network: str, account: str, now: datetime) -> bool:
        return self.per_network.allow(network, now) and self.per_account.allow(account, now)


def install(app: FastAPI) -> None:
    app.state.admin_login_limits = LoginLimits.from_settings(app.state.settings, app.state.factory)


def _limits(request: Request) -> LoginLimits:
    limits: LoginLimits = request.app.state.admin_login_limits
    return limits


def _login_page(
    request: Request,
    *,
    email: str = "",
    next_path: str = HOME,
    error: str = "",
    notice: str = "",
    status: int = 200,
) -> Response:
    return page(
        request,
        "login.html",
        {
            "email": email[:ACCOUNT_MAX],
            "next": safe_next(next_path),
            "errors": {"form": error} if error else {},
            "notice": notice,
        },
        admin=None,
        status=status,
    )


@router.get(LOGIN)
def login_form(
    request: Request, next: str = HOME, expired: str = "", logged_out: str = ""
) -> Response:
    if session_admin(request)[0] is not None:
        return see_other(safe_next(next))
    notice = EXPIRED_SESSION if expired else (LOGGED_OUT if logged_out else "")
    return _login_page(request, next_path=next, notice=notice)


@router.post(LOGIN)
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    settings = settings_of(request)
    if not csrf_ok(request, csrf_token):
        return _login_page(request, email=email, next_path=next, error=EXPIRED_FORM, status=400)
    now = datetime.now(UTC)
    account = email.strip().lower()[:ACCOUNT_MAX]
    if not _limits(request).allow(client_of(request), account, now):
        log.warning("admin login rate limit reached")
        wait = span(settings.login_rate_window)
        error = f"Too many login attempts. Please wait {wait} and try again."
        return _login_page(request, email=email, next_path=next, error=error, status=429)
    ip = client_ip(request)
    cookie = ""
    with session_scope(factory_of(request)) as session:
        admin = (
            authenticate(account, password, now=now, session=session)
            if len(password) <= PASSWORD_MAX
            else None
        )
        if admin is None:
            audit("anonymous", "login.failed", target=account, ip=ip, now=now, session=session)
        else:
            audit(admin.email, "login", ip=ip, now=now, session=session)
            cookie = admin_session.issue(settings.signing_key, admin, now)
    if admin is None:
        log.info("admin login failed")
        return _login_page(request, email=email, next_path=next, error=WRONG, status=401)
    log.info("admin %d logged in", admin.id)
    response = see_other(safe_next(next))
    admin_session.set_cookie(response, cookie, settings)
    return response


@router.get("/admin/logout")
def logout_form(
    request: Request, admin: Annotated[AdminIdentity, Depends(require_admin)]
) -> Response:
    return page(request, "logout.html", admin=admin)


@router.post("/admin/logout")
def logout(
    request: Request,
    admin: Annotated[AdminIdentity, Depends(require_admin)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not csrf_ok(request, csrf_token):
        return page(
            request, "logout.html", {"errors": {"form": EXPIRED_FORM}}, admin=admin, status=400
        )
    with session_scope(factory_of(request)) as session:
        end_sessions(admin.id, session=session)
        audit(admin.email, "logout", ip=client_ip(request), now=datetime.now(UTC), session=session)
    response = see_other(f"{LOGIN}?logged_out=1")
    admin_session.clear_cookie(response, settings_of(request))
    return response
