"""Rate limits shared by every web process: at most N attempts per window for one key
(a network for the signup form; a network, and an account on a network, for the admin
login).

Each counted attempt is a row in ``rate_hits`` (mailer/models.py), so `r2p-mailer run`,
one `web` or several behind a load balancer keep one count. The key is stored as a keyed
hash, so the table never holds an IP or email address. An attempt over the limit is
refused and not counted: a flood costs an indexed count and stores nothing. Two processes
counting the same key at the same instant may each let one more through; these limits
slow abuse down, they are not quotas.

Limits that count only failures (the admin login) take an attempt before the work
(``take``), so that concurrent attempts are counted too, and give it back when it
succeeded (``give_back``).

Clients are counted per IPv4 address and per IPv6 /64 (the block one household or
machine usually gets); an IPv4 client seen through IPv6 (``::ffff:a.b.c.d`` behind a
dual-stack proxy, NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:aabb:ccdd::/48``, Teredo) is
counted as that IPv4 address, so it cannot draw a new bucket per form of its address.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from mailer.db import write_session
from mailer.models import RateHit

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# The admin login's failures: an account from one network (grouped by account), and an
# account from anywhere (staff/console/login.py); ``unlock_account`` forgets both.
LOGIN_PAIR = "login-pair"
LOGIN_ACCOUNT = "login-account"


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 client behind an IPv6 address that carries one, else None."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def client_key(host: str | None) -> str:
    """The bucket of a client address: an IPv4 address (also when seen through IPv6), an
    IPv6 /64, or the host as given when it is not an address."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        ipv4 = embedded_ipv4(address)
        if ipv4 is not None:
            return str(ipv4)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def keyed_hash(secret: bytes, bucket: str, key: str) -> str:
    return hmac.new(secret, f"{bucket}\0{key}".encode(), hashlib.sha256).hexdigest()


def lock_key(key_hash: str, *, session: Session) -> None:
    """Serialise counting for one key until the transaction ends. SQLite needs nothing
    (write sessions hold its one write lock from the start); PostgreSQL takes a
    transaction-scoped advisory lock, or concurrent requests would all count the same
    committed total and all pass."""
    if session.get_bind().dialect.name == "postgresql":
        number = int.from_bytes(bytes.fromhex(key_hash[:16]), "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:n)"), {"n": number})


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
        return keyed_hash(self._secret, self.bucket, key)

    def _mine(self, key: str) -> ColumnElement[bool]:
        return (RateHit.bucket == self.bucket) & (RateHit.key_hash == self._hash(key))

    def allow(self, key: str, now: datetime, *, session: Session | None = None) -> bool:
        """Count one attempt for ``key``; False when it is over the limit (not counted).
        With ``session``, in that (write) transaction: one write for a request, not two."""
        return self.take(key, now, session=session) is not None

    def take(
        self, key: str, now: datetime, *, session: Session | None = None, group: str = ""
    ) -> int | None:
        """Count one attempt for ``key`` and return its id (for ``give_back``); None when
        it is over the limit (not counted). With ``session``, in that transaction. A
        ``group`` (an account, for a key that is an account on a network) lets
        ``forget_group`` find the attempt again."""
        if session is not None:
            return self._take(key, now, session, group)
        with write_session(self._factory) as own:
            return self._take(key, now, own, group)

    def _take(self, key: str, now: datetime, session: Session, group: str) -> int | None:
        mine = self._mine(key)
        cutoff = now - self.window
        # The count and the insert below happen as one step per key.
        lock_key(self._hash(key), session=session)
        session.execute(delete(RateHit).where(mine, RateHit.at <= cutoff))
        recent = session.scalar(select(func.count()).where(mine, RateHit.at > cutoff)) or 0
        if recent >= self.limit:
            return None
        hit = RateHit(
            bucket=self.bucket,
            key_hash=self._hash(key),
            at=now,
            group_hash=self._hash(group) if group else None,
        )
        session.add(hit)
        session.flush()
        return hit.id

    def give_back(self, hit: int | None) -> None:
        """Uncount an attempt ``take`` counted: it was not the kind this limit counts
        (a login that succeeded)."""
        if hit is None:
            return
        with write_session(self._factory) as session:
            session.execute(delete(RateHit).where(RateHit.id == hit, RateHit.bucket == self.bucket))

    def count(self, key: str, now: datetime) -> int:
        """Attempts counted for ``key`` in the window ending ``now`` (counts nothing)."""
        with self._factory() as session:
            return (
                session.scalar(
                    select(func.count()).where(self._mine(key), RateHit.at > now - self.window)
                )
                or 0
            )


def unlock_account(account: str, *, secret: str, session: Session) -> int:
    """Forget the admin login failures of ``account`` from every network, and so its
    refusals and its slow-down (an owner's unlock); how many attempts were forgotten."""
    key = secret.encode()
    result = session.execute(
        delete(RateHit)
        .where(
            (
                (RateHit.bucket == LOGIN_ACCOUNT)
                & (RateHit.key_hash == keyed_hash(key, LOGIN_ACCOUNT, account))
            )
            | (
                (RateHit.bucket == LOGIN_PAIR)
                & (RateHit.group_hash == keyed_hash(key, LOGIN_PAIR, account))
            )
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def forget_old_hits(*, now: datetime, older_than: timedelta, session: Session) -> int:
    """Delete attempts older than ``older_than`` (the longest window), whatever their key."""
    result = session.execute(
        delete(RateHit)
        .where(RateHit.at < now - older_than)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
