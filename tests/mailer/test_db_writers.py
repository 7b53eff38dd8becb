"""The write sessions of one process take turns on SQLite: a thread waiting for another
thread's write session of the same process waits for its turn, however long that takes,
and does not fail when the database's busy timeout runs out (the timeout is for other
processes). A write session waiting for another process's lock still takes it once
released, and gives up after the busy timeout, as before."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from mailer.db import make_engine, make_sessionmaker, write_session

HOLD = 0.6  # seconds the first write session holds the lock: longer than the busy timeout
BUSY_TIMEOUT = 0.1


@pytest.fixture
def database(tmp_path: Path) -> str:
    path = tmp_path / "writers.sqlite3"
    engine = make_engine(f"sqlite:///{path}", create=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (who TEXT)")
    engine.dispose()
    return str(path)


def test_threads_of_one_process_queue_for_their_write_sessions(database: str) -> None:
    engine = make_engine(f"sqlite:///{database}?timeout={BUSY_TIMEOUT}")
    factory = make_sessionmaker(engine)
    first_in, second_going = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with write_session(factory) as session:
            session.execute(text("INSERT INTO t VALUES ('first')"))
            first_in.set()
            second_going.wait(5)
            threading.Event().wait(HOLD)  # hold the write lock past the busy timeout

    def second() -> None:
        first_in.wait(5)
        second_going.set()
        try:
            with write_session(factory) as session:
                session.execute(text("INSERT INTO t VALUES ('second')"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT who FROM t")] == ["first", "second"]
    engine.dispose()


def test_a_write_session_waits_for_another_process_then_gives_up(database: str) -> None:
    engine = make_engine(f"sqlite:///{database}?timeout={BUSY_TIMEOUT}")
    factory = make_sessionmaker(engine)
    other = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError, match="locked"), write_session(factory) as session:
        session.execute(text("INSERT INTO t VALUES ('too soon')"))
    released = threading.Timer(BUSY_TIMEOUT / 2, other.execute, ["COMMIT"])
    released.start()
    with write_session(factory) as session:  # taken once the other process commits
        session.execute(text("INSERT INTO t VALUES ('after')"))
        # The busy timeout is back for what the connection does next.
        assert session.execute(text("PRAGMA busy_timeout")).scalar() == BUSY_TIMEOUT * 1000
    released.join()
    other.close()
    with engine.connect() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT who FROM t")] == ["after"]
    engine.dispose()
