"""Signed, expiring link tokens: one salt per purpose, naming the reader's link secret.

A token carries only the reader's random ``link_secret`` (``mailer.models``), signed with
the site key and a timestamp; no id and nothing derived from the address. Erasure and
resubscription replace the secret, so every older link stops working; a token cannot be
replayed for another purpose.

Mail sent before link secrets named ``[id, sha256(address)[:12]]``. Those tokens are read
as ``LegacyLink`` and accepted for unsubscribing only (RFC 8058 wants unsubscribe links to
keep working), and only while the address tag matches the row's current address.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from mailer.config import Settings
from mailer.errors import MailerError

# The data download link, sent on request from the preferences page, is short-lived.
DATA_LINK_MAX_AGE = timedelta(hours=1)
# The reader links in a test email (``make_test_token``) open an explanation this long.
TEST_LINK_MAX_AGE = timedelta(days=14)
TEST_PAYLOAD = "test"
MIN_SECRET = 16
MAX_SECRET = 64


class Purpose(StrEnum):
    CONFIRM = "confirm"
    MANAGE = "manage"
    UNSUBSCRIBE = "unsubscribe"
    DATA = "data"


class TokenError(MailerError):
    """A link token is forged, expired, or for something else."""


class TokenExpiredError(TokenError):
    """The link was genuine but is too old."""


@dataclass(frozen=True)
class LegacyLink:
    """A token of the form used before link secrets: subscriber id and address tag."""

    subscriber_id: int
    address_tag: str

    def matches(self, email: str) -> bool:
        expected = hashlib.sha256(email.encode()).hexdigest()[:12]
        return hmac.compare_digest(self.address_tag, expected)


@lru_cache(maxsize=16)
def _serializer(key: str, purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=f"r2p-mailer/{purpose.value}")


def max_age(settings: Settings, purpose: Purpose) -> timedelta:
    if purpose is Purpose.CONFIRM:
        return settings.confirm_link_max_age
    if purpose is Purpose.UNSUBSCRIBE:
        return settings.unsubscribe_link_max_age
    if purpose is Purpose.DATA:
        return DATA_LINK_MAX_AGE
    return settings.link_max_age


def make_token(settings: Settings, purpose: Purpose, link_secret: str) -> str:
    """A link token for the reader whose ``link_secret`` this is."""
    if not MIN_SECRET <= len(link_secret) <= MAX_SECRET:
        raise ValueError("a link secret must be 16 to 64 characters")
    return str(_serializer(settings.signing_key, purpose).dumps(link_secret))


def read_token(settings: Settings, purpose: Purpose, token: str) -> str | LegacyLink:
    """The link secret the token names (or a LegacyLink for an old token); raises
    TokenExpiredError or TokenError."""
    serializer = _serializer(settings.signing_key, purpose)
    seconds = int(max_age(settings, purpose).total_seconds())
    try:
        payload = serializer.loads(token, max_age=seconds)
    except SignatureExpired:
        raise TokenExpiredError("this link has expired") from None
    except BadSignature:
        raise TokenError("this link is not valid") from None
    if isinstance(payload, str) and MIN_SECRET <= len(payload) <= MAX_SECRET:
        return payload
    if (
        isinstance(payload, list)
        and len(payload) == 2
        and isinstance(payload[0], int)
        and not isinstance(payload[0], bool)
        and isinstance(payload[1], str)
    ):
        return LegacyLink(payload[0], payload[1])
    raise TokenError("this link is not valid")


def make_test_token(settings: Settings) -> str:
    """A token for the reader links of a test email: it names no reader, so it can
    change nothing; ``/test-link/`` pages accept it to explain that the mail was a test."""
    return str(
        URLSafeTimedSerializer(settings.signing_key, salt="r2p-mailer/test-link").dumps(
            TEST_PAYLOAD
        )
    )


def read_test_token(settings: Settings, token: str) -> None:
    """Accept a test email's link token; raises TokenExpiredError or TokenError."""
    serializer = URLSafeTimedSerializer(settings.signing_key, salt="r2p-mailer/test-link")
    try:
        payload = serializer.loads(token, max_age=int(TEST_LINK_MAX_AGE.total_seconds()))
    except SignatureExpired:
        raise TokenExpiredError("this test link has expired") from None
    except BadSignature:
        raise TokenError("this link is not valid") from None
    if payload != TEST_PAYLOAD:
        raise TokenError("this link is not valid")


def link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.base_url}/{path.strip('/')}/{token}"
