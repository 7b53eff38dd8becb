"""Finding a subscriber: by normalised address, or from a signed link in an email.

A link names the reader's random link secret (``mailer.tokens``): erased readers' links
lead nowhere, and a resubscription (a new secret) retires every older link. Unsubscribe
links in mail sent before link secrets still work for the address they were sent to.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.db import MAX_ROW_ID
from mailer.errors import MailerError
from mailer.models import Subscriber
from mailer.outbox.status import SubscriberStatus
from mailer.tokens import LegacyLink, Purpose, TokenError, TokenExpiredError, read_token


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
    """The subscriber a link was made for; raises LinkExpiredError, LinkGoneError or
    LinkError. A link of the old form (id and address hash) counts as expired, except an
    unsubscribe link still addressed to the row's current address, and a confirmation link
    of a reader who is still pending at that address (a signup made just before the
    upgrade; it can only confirm that same pending signup)."""
    try:
        named = read_token(settings, purpose, token)
    except TokenExpiredError:
        raise LinkExpiredError("this link has expired") from None
    except TokenError:
        raise LinkError("this link is not valid") from None
    if isinstance(named, LegacyLink):
        if purpose not in (Purpose.UNSUBSCRIBE, Purpose.CONFIRM):
            raise LinkExpiredError("this link has expired")
        if not 1 <= named.subscriber_id <= MAX_ROW_ID:
            raise LinkGoneError("this link no longer leads to a subscription")
        query = select(Subscriber).where(Subscriber.id == named.subscriber_id)
    else:
        query = select(Subscriber).where(Subscriber.link_secret == named)
    if lock:
        query = query.with_for_update()
    subscriber = session.scalar(query)
    if subscriber is None or (
        isinstance(named, LegacyLink) and not named.matches(subscriber.email)
    ):
        raise LinkGoneError("this link no longer leads to a subscription")
    if (
        isinstance(named, LegacyLink)
        and purpose is Purpose.CONFIRM
        and subscriber.status != SubscriberStatus.PENDING
    ):
        raise LinkExpiredError("this link has expired")
    return subscriber
