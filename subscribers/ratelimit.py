"""Rate limits shared by every web process: at most N attempts per window for one key
(a network for the signup form; a network and an account for the admin login).

Each counted attempt is a row in ``rate_hits`` (mailer/models.py), so `r2p-mailer run`,
one `web` or several behind a load balancer keep one count. The key is stored as a keyed
hash, so the table never holds an IP or email address. An attempt over the limit is
refused and not counted: a flood costs an indexed count and stores nothing. Two processes
counting the same key at the same instant may each let one more through; these limits
slow abuse down, they are not quotas. IPv6 clients are counted per /64, the block one
household or machine usually gets.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.db import session_scope
from mailer.models import RateHit


def client_key(host: str | None) -> str:
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class RateLimiter:
    """``limit`` attempts per ``window`` for each key of one ``bucket``."""

    def __init__(
        self,
        bucket: str,
        limit: int,
        window: timedelta,
        *,
        factory: sessionmaker[Session],
        secret: str,
    ) -> None:
        self.bucket = bucket
        self.limit = limit
        self.window = window
        self._factory = factory
        self._secret = secret.encode()

    def _hash(self, key: str) -> str:
        material = f"{self.bucket}\0{key}".encode()
        return hmac.new(self._secret, material, hashlib.sha256).hexdigest()

    def allow(self, key: str, now: datetime) -> bool:
        """Count one attempt for ``key``; False when it is over the limit (not counted)."""
        key_hash = self._hash(key)
        cutoff = now - self.window
        mine = (RateHit.bucket == self.bucket) & (RateHit.key_hash == key_hash)
        with session_scope(self._factory) as session:
            # Forget this key's old attempts first (on SQLite this also takes the write
            # lock, so the count and the insert below happen as one step).
            session.execute(delete(RateHit).where(mine, RateHit.at <= cutoff))
            recent = session.scalar(select(func.count()).where(mine, RateHit.at > cutoff)) or 0
            if recent >= self.limit:
                return False
            session.add(RateHit(bucket=self.bucket, key_hash=key_hash, at=now))
            return True


def forget_old_hits(*, now: datetime, older_than: timedelta, session: Session) -> int:
    """Delete attempts older than ``older_than`` (the longest window), whatever their key."""
    result = session.execute(
        delete(RateHit)
        .where(RateHit.at < now - older_than)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
