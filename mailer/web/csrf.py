"""CSRF protection for every form: a random cookie plus a signed copy in the form.

The form token is the cookie value signed with its own salt (itsdangerous), so a page on
another site can neither read the cookie nor forge a token that matches it. Admin forms
also bind the token to the admin session (``session``: a keyed digest of the session
cookie), so a token from before the login, from another session or from another admin is
refused. On https sites the cookie is ``__Host-r2p_csrf`` (Secure, Path=/, no Domain):
no other host, not even a subdomain, can set it. The RFC 8058 one-click unsubscribe POST
is the one exception: mailbox providers send it without cookies, and the signed token in
its URL is what authenticates it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "r2p_csrf"
HOST_COOKIE = "__Host-r2p_csrf"
FIELD = "csrf_token"
MAX_AGE = timedelta(days=1)


def cookie_name(https: bool) -> str:
    """``__Host-r2p_csrf`` on an https site, ``r2p_csrf`` otherwise."""
    return HOST_COOKIE if https else COOKIE


def new_cookie_value() -> str:
    return secrets.token_urlsafe(32)


def session_binding(key: str, session_cookie: str | None) -> str:
    """What ties a token to one login session: a keyed digest of its cookie ('' if none)."""
    if not session_cookie:
        return ""
    material = f"r2p-mailer/csrf-session\0{session_cookie}".encode()
    return hmac.new(key.encode(), material, hashlib.sha256).hexdigest()[:32]


def _serializer(key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="r2p-mailer/csrf")


def _payload(cookie_value: str, session: str) -> str | list[str]:
    return [cookie_value, session] if session else cookie_value


def form_token(key: str, cookie_value: str, session: str = "") -> str:
    return str(_serializer(key).dumps(_payload(cookie_value, session)))


def check(key: str, cookie_value: str | None, token: str | None, session: str = "") -> bool:
    """True only for a fresh token made for this very cookie (and session, if any)."""
    if not cookie_value or not token:
        return False
    try:
        signed = _serializer(key).loads(token, max_age=int(MAX_AGE.total_seconds()))
    except BadSignature:
        return False
    expected = _payload(cookie_value, session)
    if isinstance(expected, str):
        return isinstance(signed, str) and hmac.compare_digest(signed, expected)
    return (
        isinstance(signed, list)
        and len(signed) == 2
        and all(isinstance(part, str) for part in signed)
        and hmac.compare_digest(signed[0], expected[0])
        and hmac.compare_digest(signed[1], expected[1])
    )
