"""Database access: engines and sessions for SQLite (default) and PostgreSQL.

Data functions take ``session`` as a keyword-only argument and never commit; the command,
request or job that owns the unit of work commits (``session_scope`` for reads and
request-sized writes, ``write_session`` / ``run_with_retry`` for jobs that write).

On SQLite a plain (deferred) transaction starts as a reader and cannot become a writer
once another connection has committed in between ("database is locked" at once, whatever
the busy timeout). ``write_session`` therefore opens its transaction with
``BEGIN IMMEDIATE``: it takes the write lock first, waiting up to the busy timeout (30 s,
or ``?timeout=`` in the URL), and can then read and write without that failure. Read-only
work keeps the deferred ``BEGIN`` so WAL readers never wait for a writer.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import NoDatabaseError
from mailer.varfiles import create_private_file

log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT = 30.0  # seconds a SQLite writer waits for the lock
RETRY_ATTEMPTS = 8  # tries in all for a job's unit of work (run_with_retry)
RETRY_DEADLINE = 120.0  # seconds from the first try after which a job gives up
_WRITE_OPTION = "r2p_write"


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
    # The busy timeout: how long a writer waits for another's lock. ``?timeout=`` in the
    # URL (seconds) overrides the default.
    connect_args = {} if "timeout" in parsed.query else {"timeout": SQLITE_BUSY_TIMEOUT}
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the web process read while the poller or a worker writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        # Other sessions keep the driver's own behaviour (reads outside a transaction, a
        # deferred BEGIN before the first write); a write session starts its transaction
        # with the write lock, and the driver then sees it is in one.
        if conn.get_execution_options().get(_WRITE_OPTION):
            _begin_immediate(conn)

    _WRITER_LOCKS[engine] = threading.RLock()
    return engine


# One writer at a time per SQLite engine, within a process (``write_session``).
_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
WRITE_POLL = (0.0005, 0.005)  # seconds between tries for the write lock: first, most


def _begin_immediate(conn: Any) -> None:
    """BEGIN IMMEDIATE, waiting up to the connection's busy timeout for the write lock,
    trying every few milliseconds. SQLite's own busy handler sleeps up to 100 ms between
    tries, so a writer that waited a while keeps losing the lock to whoever asks right
    after a commit (a worker's settle waited seconds behind a stream of signups); polling
    promptly here takes the lock within milliseconds of its release."""
    busy_ms = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
    give_up_at = time.monotonic() + busy_ms / 1000
    pause = WRITE_POLL[0]
    conn.exec_driver_sql("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except DBAPIError as exc:
                if not is_transient(exc) or time.monotonic() + pause > give_up_at:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, WRITE_POLL[1])
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms}")


# The GIL switch interval (seconds) while a thread of this process holds SQLite's write
# lock: a thread that gets the GIL back within this after each statement keeps the lock
# for about as long as its work takes, not for 5 ms (CPython's default) per statement.
WRITE_SWITCH_INTERVAL = 0.0005


class QuickTurns:
    """While at least one thread is inside, the process's GIL switch interval is at most
    WRITE_SWITCH_INTERVAL; the last thread out restores the interval it found. Busy threads
    then give the GIL back to a thread returning from a statement within that time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._saved = 0.0

    def __enter__(self) -> None:
        with self._lock:
            if self._inside == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, WRITE_SWITCH_INTERVAL))
            self._inside += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                sys.setswitchinterval(self._saved)


QUICK_TURNS = QuickTurns()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], **options: Any) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. ``options`` go to the
    factory (``bind=`` for a write session)."""
    session = factory(**options)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _writer_bind(factory: sessionmaker[Session]) -> Engine | None:
    engine: Engine | None = factory.kw.get("bind")
    return None if engine is None else engine.execution_options(**{_WRITE_OPTION: True})


@contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that writes: like ``session_scope``, but on SQLite the transaction
    takes the write lock at its start (``BEGIN IMMEDIATE``, waiting out the busy timeout),
    so reading first and writing later cannot fail with "database is locked" because
    another connection committed in between. On PostgreSQL it is ``session_scope``.

    On SQLite the write sessions of one process also take turns on a lock of their own
    first: the threads of one process then queue for the database's single writer lock
    instead of polling for it all at once, and only one of them competes with the other
    processes (the delivery worker, jobs). While its turn lasts, the process hands the GIL
    back to it quickly (``QUICK_TURNS``), so the write lock is not held longer for waiting
    on the other threads of the process."""
    engine: Engine | None = factory.kw.get("bind")
    turn = _WRITER_LOCKS.get(engine) if engine is not None else None
    with (
        turn if turn is not None else contextlib.nullcontext(),
        QUICK_TURNS if turn is not None else contextlib.nullcontext(),
        session_scope(factory, bind=_writer_bind(factory)) as session,
    ):
        yield session


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same unit of work again may succeed: SQLite locked or busy, a
    lost or refused PostgreSQL connection, a serialization failure or deadlock, or any
    error SQLAlchemy marked as having invalidated the connection."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return exc.orig is not None and is_transient(exc.orig)
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "locked" in text or "busy" in text
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc, psycopg.OperationalError)


def retry_delays(
    *, first: float = 0.05, most: float = 5.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Endless backoff delays: doubling from ``first`` up to ``most`` seconds, each drawn
    uniformly from its upper half so that processes retrying together spread out."""
    draw = (rng or random).uniform
    ceiling = first
    while True:
        yield draw(ceiling / 2, ceiling)
        ceiling = min(ceiling * 2, most)


Result = TypeVar("Result")


def run_with_retry(
    factory: sessionmaker[Session],
    work: Callable[[Session], Result],
    *,
    attempts: int = RETRY_ATTEMPTS,
    deadline: float = RETRY_DEADLINE,
    write: bool = True,
    on_retry: Callable[[BaseException, int, float], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """Run ``work(session)`` in its own unit of work (``write_session``, or
    ``session_scope`` with ``write=False``) and commit; when it fails with a transient
    error (``is_transient``) roll back, wait a jittered, growing delay and run it again
    from the start, at most ``attempts`` times in all and not past ``deadline`` seconds
    from the first try (or once ``stop`` is set). The last error is raised as it was.

    ``work`` must be safe to run again: everything it wrote was rolled back, but what it
    did outside the database (a mail sent, a variable changed) was not. ``on_retry`` gets
    (the error, the attempt that failed, the delay before the next) and by default logs
    it (INFO).
    """
    scope = write_session if write else session_scope
    give_up_at = time.monotonic() + deadline
    delays = retry_delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            with scope(factory) as session:
                return work(session)
        except Exception as exc:
            if not is_transient(exc) or attempt >= attempts:
                raise
            delay = next(delays)
            if time.monotonic() + delay > give_up_at or (stop is not None and stop.is_set()):
                raise
            (on_retry or _log_retry)(exc, attempt, delay)
            if stop is not None:
                if stop.wait(delay):
                    raise
            else:
                time.sleep(delay)


def _log_retry(exc: BaseException, attempt: int, delay: float) -> None:
    # INFO: a retry that succeeds is routine; the error that ends the retries is raised.
    log.info(
        "database unavailable (%s); attempt %d failed, trying again in %.2f s",
        describe_db_error(exc),
        attempt,
        delay,
    )


def describe_db_error(exc: BaseException) -> str:
    """The first line of a driver's error, without SQL, parameters or a password."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return first[:300]


# Row ids are 32-bit (PostgreSQL's integer); SQLite raises OverflowError past 64 bits.
MAX_ROW_ID = 2**31 - 1
Row = TypeVar("Row")


def get_by_id(model: type[Row], row_id: int, *, session: Session) -> Row | None:
    """The row with this id, or None; ids from outside (URLs, forms, JSON) may be any
    integer, and one no row can have is simply not found."""
    if not 1 <= row_id <= MAX_ROW_ID:
        return None
    return session.get(model, row_id)


DialectInsert = postgresql.Insert | sqlite.Insert


def dialect_insert(session: Session) -> Callable[[Any], DialectInsert]:
    """The ``insert`` of the session's backend (PostgreSQL's or SQLite's), the one with
    ``on_conflict_do_nothing`` (INSERT ... ON CONFLICT DO NOTHING, which both backends
    accept but SQLAlchemy's generic ``insert`` cannot express)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert
