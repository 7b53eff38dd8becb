"""How much mail the reader forms may cause: per real mailbox and per destination domain.

Confirmation, "manage your subscription" and data-link mails each take one slot from two
counts per R2P_SIGNUP_RATE_WINDOW: the mailbox (``mailbox_key``: plus-tags, and Gmail's
dots, folded; R2P_MAILBOX_MAIL_LIMIT) and the domain (R2P_DOMAIN_MAIL_LIMIT). So neither
address variants nor many networks can flood one inbox in the organisation's name.

The counts are rows in ``rate_hits`` (keyed hashes, never the address), taken inside the
signup's own transaction and serialised per key: SQLite has one writer at a time (the
first statement here is a write, so the lock is held before counting), PostgreSQL takes a
transaction-scoped advisory lock per key, mailbox before domain.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.models import RateHit
from mailer.web.ratelimit import lock_key
from subscribers.addresses import domain_of, mailbox_key

log = logging.getLogger(__name__)

MAILBOX = "mail-mailbox"
DOMAIN = "mail-domain"


def _key_hash(secret: str, bucket: str, key: str) -> str:
    return hmac.new(secret.encode(), f"{bucket}\0{key}".encode(), hashlib.sha256).hexdigest()


def take_mail_slot(address: str, *, settings: Settings, now: datetime, session: Session) -> bool:
    """Count one mail to ``address`` (normalised); False, counting nothing, when its
    mailbox or its domain has had its share this window."""
    cutoff = now - settings.signup_rate_window
    counts = [
        (MAILBOX, _key_hash(settings.signing_key, MAILBOX, mailbox_key(address))),
        (DOMAIN, _key_hash(settings.signing_key, DOMAIN, domain_of(address))),
    ]
    limits = {MAILBOX: settings.mailbox_mail_limit, DOMAIN: settings.domain_mail_limit}
    for bucket, key_hash in counts:
        lock_key(key_hash, session=session)
        mine = (RateHit.bucket == bucket) & (RateHit.key_hash == key_hash)
        session.execute(
            delete(RateHit)
            .where(mine, RateHit.at <= cutoff)
            .execution_options(synchronize_session=False)
        )
        recent = session.scalar(select(func.count()).where(mine, RateHit.at > cutoff)) or 0
        if recent >= limits[bucket]:
            if bucket == DOMAIN:  # may hold back real readers: say so (no address logged)
                log.warning(
                    "R2P_DOMAIN_MAIL_LIMIT reached for %s: subscription mails held back "
                    "for this window",
                    domain_of(address),
                )
            return False
    session.add_all(
        RateHit(bucket=bucket, key_hash=key_hash, at=now) for bucket, key_hash in counts
    )
    session.flush()
    return True
