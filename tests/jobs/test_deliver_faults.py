"""Delivery under faults, with real components: a database write that fails right after the
relay said 250 (the reply is kept and recorded later, nothing is sent twice), and the
worker's heartbeat row (worker_status) that /healthz and /metrics read."""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text, update

from jobs.deliver import DeliveryWorker
from mailer.db import make_engine, make_sessionmaker
from mailer.models import Delivery, WorkerStatus
from mailer.outbox.queries import retrying_now
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries, make_due, smtp_sender
from tests.support.running import invoke
from tests.support.smtpserver import SMTPServer
from tests.support.waiting import wait_until

LOCK_TIMEOUT_MS = 200


@pytest.fixture
def impatient(db: Db) -> Iterator[Engine]:
    """An engine for the worker that gives up on a held lock after 200 ms (SQLite's busy
    timeout, PostgreSQL's lock_timeout) instead of waiting it out."""
    engine = make_engine(db.url)

    @event.listens_for(engine, "connect")
    def _short(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if db.backend == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_MS}")
        else:
            cursor.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
        cursor.close()
        if db.backend != "sqlite":
            dbapi_connection.commit()

    yield engine
    engine.dispose()


class LockHolder:
    """Another connection takes the write lock on the ledger and keeps it until told."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.taken = threading.Event()
        self.release = threading.Event()
        self.thread: threading.Thread | None = None

    def _hold(self) -> None:
        engine = make_engine(self.db.url)
        with engine.connect() as conn:
            if self.db.backend == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))
            self.taken.set()
            self.release.wait(timeout=60)
            conn.rollback()
        engine.dispose()

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._hold, daemon=True)
            self.thread.start()
            self.taken.wait(timeout=10)

    def stop(self) -> None:
        self.release.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


def test_replies_are_kept_until_recorded_and_nothing_is_resent_after_a_failed_settle(
    db: Db, smtp_server: SMTPServer, impatient: Engine
) -> None:
    readers = [f"reader{i:03d}@example.org" for i in range(40)]
    campaign = alert_campaign(db, add_readers(db, readers))
    holder = LockHolder(db)

    def lock_after_tenth(recipient: str, attempt: int) -> str:
        # The relay accepts every message; from the tenth on, the ledger is locked while
        # the worker tries to record the replies (the 250 is given right after this).
        if len(smtp_server.received) == 9:
            holder.start()
        return "250 OK"

    smtp_server.handler.data_rule = lock_after_tenth
    settings = db.settings(lease_seconds=5)
    worker = DeliveryWorker(
        settings, make_sessionmaker(impatient), smtp_sender(smtp_server.url, connections=2)
    )

    async def scenario() -> None:
        task = asyncio.create_task(worker.run())
        try:
            # The lock stays until at least one attempt to record has failed for real.
            await asyncio.to_thread(wait_until, lambda: worker.record_failures > 0, 30)
            holder.stop()
            await asyncio.to_thread(
                wait_until, lambda: {d.status for d in deliveries(db, campaign)} == {"sent"}, 60
            )
            await asyncio.to_thread(wait_until, lambda: worker.progress.sent == len(readers), 30)
        finally:
            holder.stop()
            worker.stop()
            await task

    asyncio.run(scenario())
    counts = collections.Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert set(counts) == set(readers)
    assert set(counts.values()) == {1}, [a for a, n in counts.items() if n > 1]
    ids = collections.Counter(r.message["Message-ID"] for r in smtp_server.received)
    assert set(ids.values()) == {1}
    rows = deliveries(db, campaign)
    assert {d.attempts for d in rows} == {1}
    assert {d.message_id for d in rows} == set(ids)


def test_the_worker_writes_its_status_row_and_marks_it_stopped(
    db: Db, smtp_server: SMTPServer
) -> None:
    smtp_server.handler.rcpt_rule = lambda rcpt, attempt: (
        "451 4.7.1 Greylisted" if rcpt.startswith("grey") else "250 OK"
    )
    readers = [f"r{i}@example.org" for i in range(8)] + ["grey@example.org"]
    alert_campaign(db, add_readers(db, readers))
    worker = DeliveryWorker(db.settings(), db.factory, smtp_sender(smtp_server.url))
    asyncio.run(worker.run(once=True))
    with db.session() as session:
        row = session.get_one(WorkerStatus, worker.name)
    assert row.stopped_at is not None and row.heartbeat_at >= row.started_at
    assert row.relay == f"smtp://127.0.0.1:{smtp_server.port}"
    assert row.breaker == "closed"
    assert row.counters == {
        "attempts": 9,
        "sent": 8,
        "retried": 1,
        "failed": 0,
        "errors": {"4xx": 1},
    }
    assert row.rate > 0


def test_retrying_now_counts_only_rows_waiting_for_their_next_attempt(
    db: Db, smtp_server: SMTPServer
) -> None:
    smtp_server.handler.rcpt_rule = lambda rcpt, attempt: (
        "451 4.7.1 Greylisted" if rcpt.startswith("grey") and attempt == 1 else "250 OK"
    )
    campaign = alert_campaign(
        db, add_readers(db, ["grey1@example.org", "grey2@example.org", "ok@example.org"])
    )
    asyncio.run(
        DeliveryWorker(db.settings(), db.factory, smtp_sender(smtp_server.url)).run(once=True)
    )
    with db.session() as session:
        assert retrying_now(now=datetime.now(UTC), session=session) == 2
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign, Delivery.status == "queued")
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    asyncio.run(
        DeliveryWorker(db.settings(), db.factory, smtp_sender(smtp_server.url)).run(once=True)
    )
    with db.session() as session:  # retried and sent: no longer "retrying", not a total
        assert retrying_now(now=datetime.now(UTC), session=session) == 0
        assert session.scalar(select(Delivery.id).where(Delivery.status != "sent")) is None


def test_delivers_live_line_shows_what_is_retrying_now_and_the_current_rate(
    cli_env: Db, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("R2P_SMTP_URL", smtp_server.url)
    smtp_server.handler.rcpt_rule = lambda rcpt, attempt: (
        "451 4.7.1 Greylisted" if rcpt.startswith("grey") and attempt == 1 else "250 OK"
    )
    readers = ["grey1@example.org", "grey2@example.org", "ok@example.org"]
    alert_campaign(cli_env, add_readers(cli_env, readers))
    code, output = invoke("deliver", "--once")
    assert code == 0, output
    assert "2 retrying now" in output and "msg/s (last minute)" in output
    make_due(cli_env)
    code, output = invoke("deliver", "--once")
    assert code == 0, output
    assert "0 retrying now" in output  # the two were sent: nothing is retrying any more
