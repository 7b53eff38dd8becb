"""CSRF protection for the reader's forms: a random cookie plus a signed copy in the form.

The form token is the cookie value signed with its own salt (itsdangerous), so a page on
another site can neither read the cookie nor forge a token that matches it. The RFC 8058
one-click unsubscribe POST is the one exception: mailbox providers send it without
cookies, and the signed token in its URL is what authenticates it.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "r2p_csrf"
FIELD = "csrf_token"
MAX_AGE = timedelta(days=1)


def new_cookie_value() -> str:
    return secrets.token_urlsafe(32)


def _serializer(key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="r2p-mailer/csrf")


def form_token(key: str, cookie_value: str) -> str:
    return str(_serializer(key).dumps(cookie_value))


def check(key: str, cookie_value: str | None, token: str | None) -> bool:
    """True only for a fresh token made for this very cookie."""
    if not cookie_value or not token:
        return False
    try:
        signed = _serializer(key).loads(token, max_age=int(MAX_AGE.total_seconds()))
    except BadSignature:
        return False
    return isinstance(signed, str) and hmac.compare_digest(signed, cookie_value)
