"""Named leases in the database, so that exactly one process does a job (the scheduler).

A holder renews its lease well before it expires; a process that dies stops renewing and
another takes over once the lease has run out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from mailer.db import dialect_insert
from mailer.models import Lock


def acquire(name: str, holder: str, *, ttl: timedelta, now: datetime, session: Session) -> bool:
    """Take or renew the lease; True if ``holder`` holds it until ``now + ttl``."""
    taken = session.execute(
        update(Lock)
        .where(Lock.name == name, or_(Lock.holder == holder, Lock.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount:  # type: ignore[attr-defined]
        return True
    created = session.execute(
        dialect_insert(session)(Lock)
        .values(name=name, holder=holder, expires_at=now + ttl)
        .on_conflict_do_nothing()
        .returning(Lock.name)
    )
    # rowcount is not reliable for INSERT ... ON CONFLICT here; a returned row is.
    return created.first() is not None


def release(name: str, holder: str, *, session: Session) -> None:
    session.execute(delete(Lock).where(Lock.name == name, Lock.holder == holder))


def holder_of(name: str, *, now: datetime, session: Session) -> str | None:
    """Who holds a live lease on ``name``, if anyone."""
    return session.scalar(select(Lock.holder).where(Lock.name == name, Lock.expires_at >= now))
