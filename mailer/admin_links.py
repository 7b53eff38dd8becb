"""The links mailed to an admin to set a password: an invitation to a new account, or a
password reset an owner sent. Signed (a salt of their own), expiring
(``R2P_ADMIN_INVITE_MAX_AGE`` / ``R2P_ADMIN_RESET_MAX_AGE``) and single-use: a link
carries a keyed fingerprint of the admin's password hash, so setting the password (or a
newer password) ends it, as does logging out everywhere.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from enum import StrEnum

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from mailer.admins import fingerprint
from mailer.config import Settings
from mailer.errors import MailerError
from mailer.models import Admin
from mailer.notices import notice

SALT = "r2p-mailer/admin-password"
PATH = "/admin/password"


class LinkPurpose(StrEnum):
    INVITE = "invite"
    RESET = "reset"


class AdminLinkError(MailerError):
    """A password link is forged, expired, used already, or its admin is deactivated."""


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_key, salt=SALT)


def max_age(settings: Settings, purpose: LinkPurpose) -> timedelta:
    if purpose is LinkPurpose.INVITE:
        return settings.admin_invite_max_age
    return settings.admin_reset_max_age


def make_link(settings: Settings, admin: Admin, purpose: LinkPurpose) -> str:
    payload = {
        "a": admin.id,
        "u": purpose.value,
        "p": fingerprint(settings.signing_key, admin, purpose.value),
    }
    return f"{settings.base_url}{PATH}/{_serializer(settings).dumps(payload)}"


def read_link(
    settings: Settings, token: str, *, now: datetime, session: Session
) -> tuple[Admin, LinkPurpose]:
    """The admin a genuine, unexpired, unused link is for; AdminLinkError otherwise."""
    try:
        payload, signed_at = _serializer(settings).loads(token, return_timestamp=True)
    except BadSignature:
        raise AdminLinkError("this link is not valid") from None
    if not isinstance(payload, dict):
        raise AdminLinkError("this link is not valid")
    admin_id, purpose_name, print_ = payload.get("a"), payload.get("u"), payload.get("p")
    if (
        not isinstance(admin_id, int)
        or not isinstance(print_, str)
        or purpose_name not in set(LinkPurpose)
    ):
        raise AdminLinkError("this link is not valid")
    purpose = LinkPurpose(purpose_name)
    if now - signed_at > max_age(settings, purpose):
        raise AdminLinkError("this link has expired: ask an owner for a new one")
    admin = session.get(Admin, admin_id)
    if admin is None or not admin.active:
        raise AdminLinkError("this link is not valid")
    if not hmac.compare_digest(fingerprint(settings.signing_key, admin, purpose.value), print_):
        raise AdminLinkError("this link was used already: ask an owner for a new one")
    return admin, purpose


def link_mail(settings: Settings, admin: Admin, purpose: LinkPurpose) -> bytes:
    """The email carrying the link, to the admin's own address."""
    url = make_link(settings, admin, purpose)
    hours = int(max_age(settings, purpose).total_seconds() // 3600)
    if purpose is LinkPurpose.INVITE:
        subject = "Your R2P admin account"
        first = "An account on the R2P news admin console was opened for you."
    else:
        subject = "Set a new password for the R2P admin console"
        first = "An owner of the R2P news admin console sent you a link to set a new password."
    text = (
        f"{first}\n\nChoose your password here (the link works once, for {hours} hours):\n"
        f"{url}\n\nIf you did not expect this message, ignore it and tell the owners.\n"
    )
    return notice(settings, admin.email, subject, text)
