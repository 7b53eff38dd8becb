"""The second step of logging in, for an admin with a second factor: the code from their
authenticator app, or one of their recovery codes.

Reached only with the cookie the right password gave (``staff.console.session``,
``pending=True``, five minutes). Each code tried counts as a failed login under the same
limits as a password (``staff.console.login``), and a right one is given back; a TOTP
code is accepted once, a recovery code too (``mailer.twofactor``). The time comes from
the app's clock (``mailer.web.pages.now_of``), so a test can freeze it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mailer import twofactor
from mailer.admins import audit
from mailer.db import session_scope
from mailer.models import Admin
from mailer.web.pages import factory_of, now_of, settings_of
from staff.console import session as admin_session
from staff.console.auth import HOME, admin_csrf_ok, login_url, safe_next
from staff.console.login import CODE, begin_attempt, limits_of, too_many
from staff.console.session import Claims
from staff.console.views import EXPIRED_FORM, client_ip, page, see_other

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
WRONG_CODE = "That code is not right, or was used already. Please try the next one."
CODE_MAX = 32


def _pending(request: Request) -> Claims | None:
    """The claims of a genuine, recent code-page cookie."""
    settings = settings_of(request)
    value = request.cookies.get(admin_session.cookie_name(settings, pending=True))
    claims = admin_session.read(settings.signing_key, value, pending=True)
    if claims is None or claims.expired(admin_session.PENDING_MAX_AGE, now_of(request)):
        return None
    return claims


def _code_page(request: Request, next_path: str, *, error: str = "", status: int = 200) -> Response:
    return page(
        request,
        "login_code.html",
        {"next": safe_next(next_path), "errors": {"form": error} if error else {}},
        admin=None,
        status=status,
    )


def _start_over(request: Request, next_path: str) -> Response:
    response = see_other(login_url(safe_next(next_path), expired=True))
    admin_session.clear_cookie(response, settings_of(request), pending=True)
    return response


@router.get(CODE)
def code_form(request: Request, next: str = HOME) -> Response:
    if _pending(request) is None:
        return _start_over(request, next)
    return _code_page(request, next)


@router.post(CODE)
async def code_login(
    request: Request,
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    settings = settings_of(request)
    if not admin_csrf_ok(request, csrf_token):
        return _code_page(request, next, error=EXPIRED_FORM, status=400)
    claims = _pending(request)
    if claims is None:
        return _start_over(request, next)
    now = now_of(request)
    account = await run_in_threadpool(_account, request, claims)
    if account is None:
        return _start_over(request, next)
    attempt = await begin_attempt(request, account, now)
    if attempt is None:
        return _code_page(request, next, error=too_many(settings), status=429)
    cookie = await run_in_threadpool(_check_code, request, claims, code[:CODE_MAX], now)
    if not cookie:
        log.info("admin second factor failed")
        return _code_page(request, next, error=WRONG_CODE, status=401)
    await run_in_threadpool(limits_of(request).succeeded, attempt)
    log.info("admin %d logged in with a second factor", claims.admin_id)
    response = see_other(safe_next(next))
    admin_session.clear_cookie(response, settings, pending=True)
    admin_session.set_cookie(response, cookie, settings)
    return response


def _admin(request: Request, claims: Claims, session: Session) -> Admin | None:
    """The admin the cookie is for, still with the password and second factor it began with."""
    admin = session.get(Admin, claims.admin_id)
    if admin is None or not admin_session.still_valid(
        settings_of(request).signing_key, claims, admin
    ):
        return None
    return admin if twofactor.enabled(admin) else None


def _account(request: Request, claims: Claims) -> str | None:
    """The address of the admin the cookie is for, while it is still theirs."""
    with session_scope(factory_of(request)) as session:
        admin = _admin(request, claims, session)
        return None if admin is None else admin.email


def _check_code(request: Request, claims: Claims, code: str, now: datetime) -> str:
    """A new session cookie for a right, unused code ('' otherwise), audited either way."""
    ip = client_ip(request)
    with session_scope(factory_of(request)) as session:
        admin = _admin(request, claims, session)
        if admin is None:
            return ""
        factor = "totp"
        accepted = twofactor.accept_code(admin, code, now=now, session=session)
        if not accepted and len(code.strip()) > 8:
            factor = "recovery code"
            accepted = twofactor.use_recovery_code(admin, code, now=now, session=session)
        if not accepted:
            audit(
                "anonymous",
                "login.failed",
                target=admin.email,
                ip=ip,
                now=now,
                session=session,
                step="code",
            )
            return ""
        detail: dict[str, Any] = {"factor": factor}
        if factor == "recovery code":
            detail["recovery_codes_left"] = twofactor.recovery_codes_left(admin.id, session=session)
        audit(admin.email, "login", ip=ip, now=now, session=session, **detail)
        admin.last_login_at = now
        return admin_session.issue(settings_of(request).signing_key, admin, now)
