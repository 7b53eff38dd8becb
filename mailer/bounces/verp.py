"""VERP: every message's envelope sender is a bounce address of its own,
``bounces+<token>@R2P_BOUNCE_DOMAIN``, so whatever comes back to it names its delivery.

The token is the delivery id (base 36) and an HMAC of the delivery, its campaign and its
reader under the site key (base 32, lower case: some relays fold the case of local
parts), so it cannot be forged, and a delivery id reused after rows were deleted does not
match the older token. The local part stays well under RFC 5321's 64 octets. Without a
bounce domain the envelope sender is R2P_MAIL_FROM's address, as before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.email.compose import message_id_for
from mailer.models import Delivery

PREFIX = "bounces"
MAC_BYTES = 10  # 16 base-32 characters
MAX_LOCAL_PART = 64
_TOKEN = re.compile(r"^([0-9a-z]{1,13})-([a-z2-7]{16})$")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    if number < 0:
        raise ValueError("a delivery id is positive")
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _BASE36[rest] + digits
        if number == 0:
            return digits


def _mac(key: str, delivery_id: int, campaign_id: int, subscriber_id: int) -> str:
    message = f"verp:{delivery_id}:{campaign_id}:{subscriber_id}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.b32encode(digest).decode().lower()


def token_for(key: str, delivery_id: int, campaign_id: int, subscriber_id: int) -> str:
    return f"{_base36(delivery_id)}-{_mac(key, delivery_id, campaign_id, subscriber_id)}"


def bounce_address(
    settings: Settings, delivery_id: int, campaign_id: int, subscriber_id: int
) -> str:
    """The envelope sender of one delivery: its VERP address when R2P_BOUNCE_DOMAIN is
    set, otherwise R2P_MAIL_FROM's address."""
    domain = settings.bounce_domain
    if not domain:
        return settings.envelope_from
    token = token_for(settings.signing_key, delivery_id, campaign_id, subscriber_id)
    local = f"{PREFIX}+{token}"
    assert len(local) <= MAX_LOCAL_PART
    return f"{local}@{domain}"


@dataclass(frozen=True)
class Token:
    """A token as read from an address: not yet checked against its delivery."""

    delivery_id: int
    mac: str


def read_token(address: str, domain: str) -> Token | None:
    """The token of a bounce address at ``domain`` (any case), or None for anything else."""
    address = address.strip().strip("<>").strip()
    local, at, host = address.rpartition("@")
    if not at or host.lower().rstrip(".") != domain.lower():
        return None
    prefix, plus, token = local.lower().partition("+")
    if not plus or prefix != PREFIX:
        return None
    match = _TOKEN.match(token)
    if match is None:
        return None
    return Token(int(match.group(1), 36), match.group(2))


def delivery_of(token: Token, *, key: str, session: Session) -> Delivery | None:
    """The delivery a token names, if the token is genuine; None for a forged token or a
    delivery that is gone (or whose id now belongs to another campaign or reader)."""
    delivery = session.get(Delivery, token.delivery_id)
    if delivery is None:
        return None
    expected = _mac(key, delivery.id, delivery.campaign_id, delivery.subscriber_id)
    return delivery if hmac.compare_digest(expected, token.mac) else None


def delivery_named(
    addresses: list[str] | tuple[str, ...],
    message_id: str,
    *,
    settings: Settings,
    session: Session,
) -> Delivery | None:
    """The delivery a report is about: the first genuine VERP token among ``addresses``
    (the address the report was sent to, the returned message's envelope sender and
    Return-Path), else the returned message's Message-ID, which is signed the same way
    (``mailer.email.compose.message_id_for``). None when nothing genuine names one."""
    key = settings.signing_key
    if settings.bounce_domain:
        for address in addresses:
            token = read_token(address, settings.bounce_domain)
            if token is not None:
                found = delivery_of(token, key=key, session=session)
                if found is not None:
                    return found
    return _by_message_id(message_id, settings=settings, session=session)


def _by_message_id(message_id: str, *, settings: Settings, session: Session) -> Delivery | None:
    value = message_id.strip().strip("<>").strip()
    head, dot, _ = value.partition(".")
    if not dot or not head.isdigit() or len(head) > 18:
        return None
    delivery = session.get(Delivery, int(head))
    if delivery is None:
        return None
    expected = message_id_for(
        key=settings.signing_key,
        domain=settings.mail_domain,
        delivery_id=delivery.id,
        campaign_id=delivery.campaign_id,
        reader=delivery.subscriber_id,
    )
    return delivery if hmac.compare_digest(expected.lower(), value.lower()) else None
