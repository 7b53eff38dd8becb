"""Logging in and out of the admin console.

A wrong password, an unknown address and a deactivated account get the same answer at
the same cost (``mailer.admins.authenticate``), and the same limits: the limits key on
the address typed, whether or not an account has it.

Only failures count (``mailer.web.ratelimit``: each attempt is counted before the
password is checked, so concurrent guesses count too, and given back when it succeeds):

- per account and network: R2P_LOGIN_RATE_LIMIT failures per R2P_LOGIN_RATE_WINDOW, then
  that account is refused (429) from that network for the rest of the window;
- per network: ``PER_NETWORK`` times that across all accounts (an office shares one
  address);
- per account from anywhere: never a refusal, only a growing delay (``Backoff``) before
  each further attempt is checked, capped, so an attacker cannot lock the real admin out:
  the right password from a network that has not failed always gets in.

An owner's unlock (``staff.actions.accounts.unlock``) forgets an account's failures from
every network. An admin with a second factor gets, for the right password, only a cookie
for the code page (``staff.console.login_code``), where wrong codes count as failures
under the same limits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from mailer import twofactor
from mailer.admins import audit, authenticate, end_sessions
from mailer.config import Settings
from mailer.db import session_scope
from mailer.web.pages import client_of, factory_of, now_of, settings_of
from mailer.web.ratelimit import LOGIN_ACCOUNT, LOGIN_PAIR, RateLimiter
from staff.console import session as admin_session
from staff.console.auth import (
    HOME,
    LOGIN,
    admin_csrf_ok,
    identity,
    require_signed_in,
    safe_next,
    session_admin,
)
from staff.console.session import AdminIdentity
from staff.console.timefmt import span
from staff.console.views import EXPIRED_FORM, client_ip, page, see_other

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

PER_NETWORK = 4
# Failures of one account (any network) stored per window; beyond, the delay is at its cap.
ACCOUNT_CEILING = 1000
WRONG = "Wrong email address or password."
EXPIRED_SESSION = "Your session has expired. Please log in again."
LOGGED_OUT = "You are logged out."
CHOSEN = "Your password is set. Please log in with it."
CODE = LOGIN + "/code"
PASSWORD_MAX = 1024
ACCOUNT_MAX = 320


@dataclass(frozen=True)
class Backoff:
    """How much slower an account under attack answers: nothing for its first ``free``
    failures in the window, then ``base`` doubling with each failure, at most ``cap``."""

    base: timedelta = timedelta(milliseconds=500)
    cap: timedelta = timedelta(seconds=8)

    def delay(self, failures: int, *, free: int) -> timedelta:
        steps = failures - free
        if steps < 0:
            return timedelta(0)
        if steps >= 32:
            return self.cap
        return min(self.base * (1 << steps), self.cap)


@dataclass(frozen=True)
class Attempt:
    """One login attempt let through: the counts it took and how long it must wait."""

    hits: tuple[tuple[RateLimiter, int | None], ...]
    delay: timedelta


@dataclass(frozen=True)
class LoginLimits:
    per_network: RateLimiter
    per_pair: RateLimiter
    per_account: RateLimiter
    free: int
    backoff: Backoff = field(default_factory=Backoff)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        factory: sessionmaker[Session],
        *,
        backoff: Backoff | None = None,
    ) -> LoginLimits:
        limit, window = settings.login_rate_limit, settings.login_rate_window
        key = settings.signing_key

        def limiter(bucket: str, n: int) -> RateLimiter:
            return RateLimiter(bucket, n, window, factory=factory, secret=key)

        return cls(
            per_network=limiter("login-network", limit * PER_NETWORK),
            per_pair=limiter(LOGIN_PAIR, limit),
            per_account=limiter(LOGIN_ACCOUNT, ACCOUNT_CEILING),
            free=limit,
            backoff=backoff or Backoff(),
        )

    def begin(self, network: str, account: str, now: datetime) -> Attempt | None:
        """Count the attempt as a failure until ``succeeded``; None: refuse it (429)."""
        on_network = self.per_network.take(network, now)
        if on_network is None:
            return None
        pair = self.per_pair.take(f"{account}\0{network}", now, group=account)
        if pair is None:
            self.per_network.give_back(on_network)
            return None
        failures = self.per_account.count(account, now)
        # Over the ceiling this stores nothing, and the delay is at its cap anyway.
        anywhere = self.per_account.take(account, now)
        return Attempt(
            (
                (self.per_network, on_network),
                (self.per_pair, pair),
                (self.per_account, anywhere),
            ),
            self.backoff.delay(failures, free=self.free),
        )

    def succeeded(self, attempt: Attempt) -> None:
        """A right password: the attempt was no failure, so it counts nowhere."""
        for limiter, hit in attempt.hits:
            limiter.give_back(hit)

    def failures(self, account: str, now: datetime | None = None) -> int:
        """The account's failures in the window, from every network."""
        return self.per_account.count(account, now or datetime.now(UTC))


def install(app: FastAPI) -> None:
    app.state.admin_login_limits = LoginLimits.from_settings(app.state.settings, app.state.factory)


def limits_of(request: Request) -> LoginLimits:
    limits: LoginLimits = request.app.state.admin_login_limits
    return limits


async def begin_attempt(request: Request, account: str, now: datetime) -> Attempt | None:
    """Count a password or code attempt for ``account`` as a failure (until
    ``succeeded``) and wait out the account's delay; None: refused (429)."""
    attempt = await run_in_threadpool(limits_of(request).begin, client_of(request), account, now)
    if attempt is None:
        log.warning("admin login rate limit reached")
        return None
    if attempt.delay:
        # An account under attack answers slower; waiting here holds no worker thread.
        log.info("admin login slowed by %ss", attempt.delay.total_seconds())
        await anyio.sleep(attempt.delay.total_seconds())
    return attempt


def too_many(settings: Settings) -> str:
    wait = span(settings.login_rate_window)
    return f"Too many login attempts. Please wait {wait} and try again."


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
    request: Request,
    next: str = HOME,
    expired: str = "",
    logged_out: str = "",
    password_set: str = "",
) -> Response:
    if session_admin(request)[0] is not None:
        return see_other(safe_next(next))
    notice = EXPIRED_SESSION if expired else (LOGGED_OUT if logged_out else "")
    if password_set:
        notice = CHOSEN
    return _login_page(request, next_path=next, notice=notice)


@router.post(LOGIN)
async def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    settings = settings_of(request)
    if not admin_csrf_ok(request, csrf_token):
        return _login_page(request, email=email, next_path=next, error=EXPIRED_FORM, status=400)
    now = now_of(request)
    account = email.strip().lower()[:ACCOUNT_MAX]
    attempt = await begin_attempt(request, account, now)
    if attempt is None:
        error = too_many(settings)
        return _login_page(request, email=email, next_path=next, error=error, status=429)
    admin, cookie = await run_in_threadpool(_check_password, request, account, password, now)
    if admin is None:
        log.info("admin login failed")
        return _login_page(request, email=email, next_path=next, error=WRONG, status=401)
    await run_in_threadpool(limits_of(request).succeeded, attempt)
    if admin.two_factor:
        log.info("admin %d typed the right password; a code is asked", admin.id)
        response = see_other(code_url(next))
        admin_session.set_cookie(response, cookie, settings, pending=True)
        return response
    log.info("admin %d logged in", admin.id)
    response = see_other(safe_next(next))
    admin_session.set_cookie(response, cookie, settings)
    return response


def code_url(next_path: str) -> str:
    next_path = safe_next(next_path)
    return CODE if next_path == HOME else f"{CODE}?{urlencode({'next': next_path})}"


def _check_password(
    request: Request, account: str, password: str, now: datetime
) -> tuple[AdminIdentity | None, str]:
    """(the admin and a new session cookie, or only the code page's cookie when they
    have a second factor) for the right password, else (None, ''), audited either way."""
    ip = client_ip(request)
    with session_scope(factory_of(request)) as session:
        admin = (
            authenticate(account, password, now=now, session=session)
            if len(password) <= PASSWORD_MAX
            else None
        )
        if admin is None:
            audit("anonymous", "login.failed", target=account, ip=ip, now=now, session=session)
            return None, ""
        key = settings_of(request).signing_key
        if twofactor.enabled(admin):
            audit(admin.email, "login.password", ip=ip, now=now, session=session)
            return identity(admin), admin_session.issue(key, admin, now, pending=True)
        audit(admin.email, "login", ip=ip, now=now, session=session)
        return identity(admin), admin_session.issue(key, admin, now)


@router.get("/admin/logout")
def logout_form(
    request: Request, admin: Annotated[AdminIdentity, Depends(require_signed_in)]
) -> Response:
    return page(request, "logout.html", admin=admin)


@router.post("/admin/logout")
def logout(
    request: Request,
    admin: Annotated[AdminIdentity, Depends(require_signed_in)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not admin_csrf_ok(request, csrf_token):
        return page(
            request, "logout.html", {"errors": {"form": EXPIRED_FORM}}, admin=admin, status=400
        )
    with session_scope(factory_of(request)) as session:
        end_sessions(admin.id, session=session)
        audit(admin.email, "logout", ip=client_ip(request), now=now_of(request), session=session)
    response = see_other(f"{LOGIN}?logged_out=1")
    admin_session.clear_cookie(response, settings_of(request))
    return response
