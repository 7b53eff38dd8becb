"""Signed, expiring link tokens: one salt per purpose, bound to the subscriber's address.

A token names the subscriber id and a short hash of their address, so it stops working
when the reader is deleted or the id is reused; it cannot be replayed for another purpose.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from mailer.config import Settings
from mailer.errors import MailerError


class Purpose(StrEnum):
    CONFIRM = "confirm"
    MANAGE = "manage"
    UNSUBSCRIBE = "unsubscribe"


class TokenError(MailerError):
    """A link token is forged, expired, or for something else."""


class TokenExpiredError(TokenError):
    """The link was genuine but is too old."""


@lru_cache(maxsize=16)
def _serializer(key: str, purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=f"r2p-mailer/{purpose.value}")


def _address_tag(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:12]


def max_age(settings: Settings, purpose: Purpose) -> timedelta:
    if purpose is Purpose.CONFIRM:
        return settings.confirm_link_max_age
    if purpose is Purpose.UNSUBSCRIBE:
        return settings.unsubscribe_link_max_age
    return settings.link_max_age


def make_token(settings: Settings, purpose: Purpose, subscriber_id: int, email: str) -> str:
    return str(
        _serializer(settings.signing_key, purpose).dumps([subscriber_id, _address_tag(email)])
    )


def read_token(settings: Settings, purpose: Purpose, token: str) -> tuple[int, str]:
    """(subscriber id, address tag); raises TokenExpiredError or TokenError."""
    serializer = _serializer(settings.signing_key, purpose)
    seconds = int(max_age(settings, purpose).total_seconds())
    try:
        payload = serializer.loads(token, max_age=seconds)
    except SignatureExpired:
        raise TokenExpiredError("this link has expired") from None
    except BadSignature:
        raise TokenError("this link is not valid") from None
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not isinstance(payload[0], int)
        or not isinstance(payload[1], str)
    ):
        raise TokenError("this link is not valid")
    return payload[0], payload[1]


def token_matches(tag: str, email: str) -> bool:
    return tag == _address_tag(email)


def link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.base_url}/{path.strip('/')}/{token}"
