"""Finding a subscriber: by normalised address, or from a signed link in an email.

A link names a subscriber id plus a hash of the address it was sent to, so a link for a
deleted reader never reaches someone who later got the same id.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.errors import MailerError
from mailer.models import Subscriber
from mailer.tokens import Purpose, TokenError, TokenExpiredError, read_token, token_matches


class LinkError(MailerError):
    """A link that does not lead to a subscriber: forged, for another purpose, or stale."""


class LinkExpiredError(LinkError):
    """A genuine link that is too old."""


class LinkGoneError(LinkError):
    """A genuine link whose subscriber no longer exists (erased, purged)."""


def find_by_email(address: str, *, session: Session) -> Subscriber | None:
    """``address`` must already be normalised (subscribers.addresses)."""
    return session.scalar(select(Subscriber).where(Subscriber.email == address))


def subscriber_for_link(
    settings: Settings, purpose: Purpose, token: str, *, session: Session, lock: bool = False
) -> Subscriber:
    """The subscriber a link was made for; raises LinkExpiredError or LinkError."""
    try:
        subscriber_id, tag = read_token(settings, purpose, token)
    except TokenExpiredError:
        raise LinkExpiredError("this link has expired") from None
    except TokenError:
        raise LinkError("this link is not valid") from None
    query = select(Subscriber).where(Subscriber.id == subscriber_id)
    if lock:
        query = query.with_for_update()
    subscriber = session.scalar(query)
    if subscriber is None or not token_matches(tag, subscriber.email):
        raise LinkGoneError("this link no longer leads to a subscription")
    return subscriber
