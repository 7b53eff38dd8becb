"""The write sessions of one process take turns on SQLite: a thread waiting for another
thread's write session of the same process waits for its turn, however long that takes,
and does not fail when the database's busy timeout runs out (the timeout is for other
processes). A write session waiting for another process's lock still takes it once
released, and gives up after the busy timeout, as before. While a thread holds its turn,
the process hands the GIL back quickly (a short switch interval), and the interval it had
is back once the last write session of the process ends, however it ended."""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from mailer.db import (
    WRITE_SWITCH_INTERVAL,
    QuickTurns,
    make_engine,
    make_sessionmaker,
    write_session,
)

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


@pytest.fixture
def usual_interval() -> Iterator[float]:
    """A switch interval well above WRITE_SWITCH_INTERVAL for the test, then the old one."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.01)
    yield 0.01
    sys.setswitchinterval(saved)


def test_a_write_session_shortens_the_switch_interval_while_it_lasts(
    database: str, usual_interval: float
) -> None:
    factory = make_sessionmaker(make_engine(f"sqlite:///{database}"))
    with write_session(factory) as session:
        session.execute(text("INSERT INTO t VALUES ('quick')"))
        assert sys.getswitchinterval() == pytest.approx(WRITE_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == pytest.approx(usual_interval)
    with pytest.raises(ZeroDivisionError), write_session(factory) as session:
        session.execute(text("INSERT INTO t VALUES ('rolled back')"))
        _ = 1 / 0
    assert sys.getswitchinterval() == pytest.approx(usual_interval)
    with factory() as session:  # a read session leaves the interval alone
        session.execute(text("SELECT 1"))
        assert sys.getswitchinterval() == pytest.approx(usual_interval)


def test_the_interval_comes_back_when_the_last_thread_leaves(usual_interval: float) -> None:
    turns = QuickTurns()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, float] = {}

    def first() -> None:
        with turns:
            first_in.set()
            second_in.wait(5)
        seen["first left"] = sys.getswitchinterval()
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with turns:
            second_in.set()
            first_out.wait(5)
            seen["second inside"] = sys.getswitchinterval()
        seen["second left"] = sys.getswitchinterval()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen["first left"] == pytest.approx(WRITE_SWITCH_INTERVAL)
    assert seen["second inside"] == pytest.approx(WRITE_SWITCH_INTERVAL)
    assert seen["second left"] == pytest.approx(usual_interval)


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
