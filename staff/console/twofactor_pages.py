"""/admin/account/2fa: an admin's own second factor. Start enrolling (a new secret), see
it as text, as an ``otpauth://`` URI and as a QR code drawn on the server (SVG: the
console runs no script), confirm it with a code from the app, and get ten recovery codes,
shown once; later, ten new ones.

Reached by any logged-in admin, also before they enrolled where R2P_ADMIN_REQUIRE_2FA
sends them here (``require_signed_in``). Each change is a staff action
(``staff.actions.accounts``); the time is the app's clock, so tests can freeze it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from mailer import twofactor
from mailer.admins import AdminError
from mailer.db import session_scope
from mailer.models import Admin
from mailer.web.pages import factory_of, now_of, settings_of
from staff.actions import accounts
from staff.actions.actor import Actor
from staff.console.auth import ENROL, admin_csrf_ok, require_signed_in
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, page, see_other

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[AdminIdentity, Depends(require_signed_in)]
WRONG_CODE = "That code is not right. Type the code the app shows now (it changes every 30 s)."
CODE_MAX = 32


def _context(request: Request, admin: Admin, session: Session) -> dict[str, Any]:
    secret = admin.totp_secret
    enabled = twofactor.enabled(admin)
    uri = twofactor.otpauth_uri(secret, admin.email) if secret and not enabled else ""
    return {
        "enabled": enabled,
        "enabled_at": admin.totp_enabled_at,
        "secret": secret if uri else "",
        "uri": uri,
        # segno draws only rects and paths from the URI's bits: no text of ours in it.
        "qr": Markup(twofactor.qr_svg(uri)) if uri else "",  # noqa: S704
        "codes_left": twofactor.recovery_codes_left(admin.id, session=session),
        "required": settings_of(request).admin_require_2fa,
    }


def _page(
    request: Request, who: AdminIdentity, *, error: str = "", notice: str = "", status: int = 200
) -> Response:
    with session_scope(factory_of(request)) as session:
        context = _context(request, session.get_one(Admin, who.id), session)
    context |= {"errors": {"form": error} if error else {}, "notice": notice}
    return page(request, "account_2fa.html", context, admin=who, section="account", status=status)


def _codes_page(request: Request, who: AdminIdentity, codes: list[str]) -> Response:
    return page(request, "account_codes.html", {"codes": codes}, admin=who, section="account")


@router.get(ENROL)
def two_factor(request: Request, admin: SignedIn, done: str = "") -> Response:
    notice = "Scan the code, then type the code the app shows." if done == "started" else ""
    return _page(request, admin, notice=notice)


def _own(request: Request, who: AdminIdentity, action: Callable[..., Any], **extra: Any) -> Any:
    """Run a staff action on the admin's own account in one transaction (rolled back,
    when it raises AdminError, by ``session_scope``)."""
    with session_scope(factory_of(request)) as session:
        return action(
            session.get_one(Admin, who.id),
            actor=Actor.web(who.email, client_ip(request)),
            now=now_of(request),
            session=session,
            **extra,
        )


@router.post(ENROL + "/start")
def start(request: Request, admin: SignedIn, csrf_token: Annotated[str, Form()] = "") -> Response:
    if not admin_csrf_ok(request, csrf_token):
        return _page(request, admin, error=EXPIRED_FORM, status=400)
    try:
        _own(request, admin, accounts.start_two_factor)
    except AdminError as exc:
        return _page(request, admin, error=str(exc), status=409)
    return see_other(ENROL + "?done=started")


@router.post(ENROL + "/confirm")
def confirm(
    request: Request,
    admin: SignedIn,
    code: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not admin_csrf_ok(request, csrf_token):
        return _page(request, admin, error=EXPIRED_FORM, status=400)
    try:
        codes = _own(request, admin, accounts.enable_two_factor, code=code[:CODE_MAX])
    except AdminError as exc:
        return _page(request, admin, error=str(exc), status=400)
    if codes is None:
        return _page(request, admin, error=WRONG_CODE, status=400)
    return _codes_page(request, admin, codes)


@router.post(ENROL + "/codes")
def new_codes(
    request: Request, admin: SignedIn, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    if not admin_csrf_ok(request, csrf_token):
        return _page(request, admin, error=EXPIRED_FORM, status=400)
    try:
        codes = _own(request, admin, accounts.new_recovery_codes)
    except AdminError as exc:
        return _page(request, admin, error=str(exc), status=409)
    return _codes_page(request, admin, codes)
