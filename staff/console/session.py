"""The admin session cookie: signed, naming the admin and when they logged in.

Signed with itsdangerous (a salt of its own): it ends ``admin_session_max_age`` after the
login whatever the activity, and stops working at once when the admin is deactivated,
their password changes or they log out, because it carries a keyed fingerprint of the
password hash and the admin's session generation (``Admin.session_generation``), which
logging out advances. Logging out therefore ends the admin's sessions in every browser,
including any copy of the cookie taken earlier.

On https sites the cookie is ``__Host-r2p_admin`` (Secure, Path=/, no Domain), so no other
host, subdomains included, can set or shadow it; it is Path=/ on http too, so /healthz
can tell an admin. HttpOnly and SameSite=Strict either way.

An admin with a second factor who typed the right password gets a cookie of the same form
but another name and salt (``pending=True``: ``r2p_admin_2fa``) that is good for nothing
but the code page, for ``PENDING_MAX_AGE``; the right code swaps it for a session.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Response
from itsdangerous import BadSignature, URLSafeSerializer

from mailer.admins import fingerprint
from mailer.config import Settings
from mailer.models import Admin
from mailer.roles import Role, allows

COOKIE = "r2p_admin"
PATH = "/"
SALT = "r2p-mailer/admin-session"
PENDING_COOKIE = "r2p_admin_2fa"
PENDING_SALT = "r2p-mailer/admin-second-factor"
PENDING_MAX_AGE = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=1)


@dataclass(frozen=True)
class AdminIdentity:
    """The admin behind a request: what pages show and what the audit log records."""

    id: int
    email: str
    role: str = Role.VIEWER.value
    two_factor: bool = False

    def may(self, permission: str) -> bool:
        """Whether the role allows it: pages show only the buttons the admin may use
        (the staff actions check again, in the database)."""
        return allows(self.role, permission)


@dataclass(frozen=True)
class Claims:
    admin_id: int
    issued_at: datetime
    fingerprint: str

    def expired(self, max_age: timedelta, now: datetime) -> bool:
        return not (now - max_age < self.issued_at <= now + CLOCK_SKEW)


def _serializer(key: str, pending: bool) -> URLSafeSerializer:
    return URLSafeSerializer(key, salt=PENDING_SALT if pending else SALT)


def issue(key: str, admin: Admin, now: datetime, *, pending: bool = False) -> str:
    payload = {
        "a": admin.id,
        "t": int(now.timestamp()),
        "p": fingerprint(key, admin),
    }
    return str(_serializer(key, pending).dumps(payload))


def read(key: str, value: str | None, *, pending: bool = False) -> Claims | None:
    """The claims of a genuine cookie; None when absent, forged or malformed."""
    if not value or len(value) > 500:
        return None
    try:
        payload = _serializer(key, pending).loads(value)
    except BadSignature:
        return None
    if not isinstance(payload, dict):
        return None
    admin_id, issued, print_ = payload.get("a"), payload.get("t"), payload.get("p")
    if not isinstance(admin_id, int) or not isinstance(issued, int) or not isinstance(print_, str):
        return None
    return Claims(admin_id, datetime.fromtimestamp(issued, UTC), print_)


def still_valid(key: str, claims: Claims, admin: Admin | None) -> bool:
    """The admin still exists, is active, has the password the session began with and
    has not logged out since."""
    return (
        admin is not None
        and admin.active
        and admin.id == claims.admin_id
        and hmac.compare_digest(fingerprint(key, admin), claims.fingerprint)
    )


def _https(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def cookie_name(settings: Settings, *, pending: bool = False) -> str:
    """``__Host-r2p_admin`` on an https site, ``r2p_admin`` otherwise (``_2fa`` after
    them for the cookie between password and code)."""
    name = PENDING_COOKIE if pending else COOKIE
    return f"__Host-{name}" if _https(settings) else name


def set_cookie(
    response: Response, value: str, settings: Settings, *, pending: bool = False
) -> None:
    max_age = PENDING_MAX_AGE if pending else settings.admin_session_max_age
    response.set_cookie(
        cookie_name(settings, pending=pending),
        value,
        max_age=int(max_age.total_seconds()),
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=_https(settings),
    )


def clear_cookie(response: Response, settings: Settings, *, pending: bool = False) -> None:
    response.delete_cookie(
        cookie_name(settings, pending=pending),
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=_https(settings),
    )
