"""Jobs that write survive a busy SQLite database: the weekly digest is created by
`digest send` and by the scheduled job while another process keeps committing to the same
file (signups, rate-limit hits), and a lost connection or lock is retried, not fatal."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from jobs.poll import poll_sources
from jobs.runtime import Runtime, install
from jobs.schedule import weekly_digest_job
from mailer.db import run_with_retry
from mailer.digest import campaign_key, iso_period
from mailer.feeds.registry import SourceSpec, add_source
from mailer.models import Campaign, Delivery
from tests.conftest import Db
from tests.support.factories import add_readers
from tests.support.feedserver import FeedServer

READERS = 3000  # more than one batch of the streamed reader list

# Another process that keeps writing, as signups do: each transaction holds the write lock
# for a few milliseconds, with short gaps between them, until it is killed. It says
# "writing" once its first commit is in.
WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
n = 0
while True:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO rate_hits (bucket, key_hash, at) VALUES ('signup', ?, '2026-01-01 00:00:00')",
        (str(n),),
    )
    time.sleep(0.01)
    conn.execute("COMMIT")
    n += 1
    if n == 1:
        print("writing", flush=True)
    time.sleep(0.005)
"""


@pytest.fixture
def busy_sqlite(db: Db, feed_server: FeedServer) -> Iterator[Db]:
    """A SQLite database with this week's items and many readers, and another process
    writing to it continuously."""
    if db.backend != "sqlite":
        pytest.skip("the write-lock upgrade failure is SQLite's")
    with db.session() as session:
        url = feed_server.serve_this_weeks("/globalr2p", "globalr2p/feed.xml")
        add_source(
            SourceSpec(key="globalr2p", url=url, always_relevant=True),
            allow_private=True,
            session=session,
        )
        session.commit()
    asyncio.run(poll_sources(db.settings(), db.factory))
    add_readers(db, [f"reader{i}@example.org" for i in range(READERS)])
    path = db.engine.url.database
    assert path is not None
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        yield db
    finally:
        writer.kill()
        writer.wait()
    assert writer.returncode is not None


def this_week(db: Db) -> tuple[int, int]:
    """(campaigns for this week, deliveries queued)."""
    key = campaign_key(iso_period(datetime.now(UTC)))
    with db.session() as session:
        campaigns = session.scalar(select(func.count()).where(Campaign.key == key))
        queued = session.scalar(select(func.count()).select_from(Delivery))
    return campaigns or 0, queued or 0


def test_digest_send_succeeds_while_another_process_writes(busy_sqlite: Db, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2P_")}
    env.update(
        R2P_DATABASE_URL=busy_sqlite.url,
        R2P_VAR_DIR=str(tmp_path / "var"),
        R2P_SECRET_KEY="test-secret-key-not-for-production",
        COLUMNS="200",
    )
    done = subprocess.run(
        [sys.executable, "-m", "service", "digest", "send"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{READERS} deliveries queued" in done.stdout
    assert this_week(busy_sqlite) == (1, READERS)


def test_the_scheduled_digest_succeeds_while_another_process_writes(busy_sqlite: Db) -> None:
    install(
        Runtime(settings=busy_sqlite.settings(digest_review=False), factory=busy_sqlite.factory)
    )
    weekly_digest_job()
    assert this_week(busy_sqlite) == (1, READERS)


def test_run_with_retry_runs_the_work_again_after_a_lock(db: Db) -> None:
    """A lock held by another connection beyond the busy timeout fails the first tries;
    once it is released the same unit of work runs again from the start and commits."""
    if db.backend != "sqlite":
        pytest.skip("a SQLite lock")
    import sqlite3

    path = db.engine.url.database
    assert path is not None
    from mailer.db import make_engine, make_sessionmaker

    engine = make_engine(f"sqlite:///{path}?timeout=0.2")
    factory = make_sessionmaker(engine)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    failures: list[str] = []

    def release_after_two(exc: BaseException, attempt: int, delay: float) -> None:
        failures.append(str(exc).splitlines()[0])
        if attempt == 2:
            holder.execute("COMMIT")

    def work(session: object) -> int:
        from sqlalchemy.orm import Session

        assert isinstance(session, Session)
        session.execute(
            text("INSERT INTO rate_hits (bucket, key_hash, at) VALUES ('a', 'b', :at)"),
            {"at": datetime.now(UTC)},
        )
        return 7

    try:
        assert run_with_retry(factory, work, on_retry=release_after_two) == 7
    finally:
        holder.close()
        engine.dispose()
    assert len(failures) == 2 and all("database is locked" in f for f in failures)
    with db.session() as session:
        assert session.scalar(text("SELECT count(*) FROM rate_hits")) == 1
