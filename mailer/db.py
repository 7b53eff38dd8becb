"""Database access: engines and sessions for SQLite (default) and PostgreSQL.

Data functions take ``session`` as a keyword-only argument and never commit; the command,
request or job that owns the unit of work commits (``session_scope``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import NoDatabaseError
from mailer.varfiles import create_private_file


def make_engine(url: str, *, create: bool = False, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs.

    A SQLite file that does not exist is an error (NoDatabaseError), so a command run from
    the wrong folder cannot start a second, empty database; only ``create=True`` (``init``)
    makes one, 0600 in a 0700 folder. Its -wal and -shm files take the same mode.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:" and "uri" not in parsed.query:
        path = Path(parsed.database)
        if create:
            create_private_file(path)
        elif not path.exists():
            raise NoDatabaseError(
                f"no database at sqlite:///{path.resolve()} "
                "(run r2p-mailer init, or set R2P_DATABASE_URL)"
            )
    engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the web process read while the poller or a worker writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Row ids are 32-bit (PostgreSQL's integer); SQLite raises OverflowError past 64 bits.
MAX_ROW_ID = 2**31 - 1
Row = TypeVar("Row")


def get_by_id(model: type[Row], row_id: int, *, session: Session) -> Row | None:
    """The row with this id, or None; ids from outside (URLs, forms, JSON) may be any
    integer, and one no row can have is simply not found."""
    if not 1 <= row_id <= MAX_ROW_ID:
        return None
    return session.get(model, row_id)
