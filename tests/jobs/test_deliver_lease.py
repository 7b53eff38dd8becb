"""Short leases renewed by a heartbeat: a worker killed mid-batch (SIGKILL, a real process)
holds its rows only until its short lease runs out, and another running worker sends them;
a living worker's heartbeat keeps its rows even while one SMTP conversation is stuck."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from jobs.deliver import DeliveryWorker
from mailer.models import Delivery, WorkerStatus
from mailer.outbox.ledger import claim
from mailer.sending.smtp import SMTPPool, parse_smtp_url
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries
from tests.support.smtpserver import SMTPServer
from tests.support.waiting import wait_until

LEASE = 5  # the shortest lease the settings allow


def worker_process(db: Db, smtp: SMTPServer, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2P_")}
    env.update(
        R2P_DATABASE_URL=db.url,
        R2P_SMTP_URL=smtp.url,
        R2P_VAR_DIR=str(tmp_path / "var"),
        R2P_SECRET_KEY="test-secret",
        R2P_SMTP_CONNECTIONS="2",
        R2P_SMTP_RATE="200",
        R2P_DELIVERY_BATCH="400",
        R2P_LEASE_SECONDS=str(LEASE),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "service", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_killed_workers_rows_are_sent_by_another_worker_once_its_short_lease_ends(
    db: Db, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    readers = [f"reader{i:04d}@example.org" for i in range(800)]
    campaign = alert_campaign(db, add_readers(db, readers))
    first = worker_process(db, smtp_server, tmp_path)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: len(smtp_server.received) >= 100 or first.poll() is not None)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = time.monotonic()
        held = [d for d in deliveries(db, campaign) if d.status == "sending"]
        assert held, "the killed worker should have held part of a batch"
        second = worker_process(db, smtp_server, tmp_path)
        wait_until(lambda: {d.status for d in deliveries(db, campaign)} == {"sent"}, 90)
        print(f"all delivered {time.monotonic() - killed:.1f} s after the kill (lease {LEASE} s)")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
    counts = collections.Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert set(counts) == set(readers)
    assert all(n <= 2 for n in counts.values())
    with db.session() as session:
        rows = {r.id: r for r in session.scalars(select(Delivery))}
        statuses = list(session.scalars(select(WorkerStatus)))
    assert all(rows[d.id].attempts == 2 or rows[d.id].attempts == 1 for d in held)
    # The survivor stopped cleanly; the killed worker's row shows it never did.
    assert sorted(s.stopped_at is None for s in statuses) == [False, True]


def test_the_heartbeat_keeps_a_living_workers_rows_while_an_smtp_conversation_is_stuck(
    db: Db, smtp_server: SMTPServer
) -> None:
    campaign = alert_campaign(db, add_readers(db, ["slow@example.org", "next@example.org"]))
    stuck = threading.Event()
    go_on = threading.Event()

    def stall_first(recipient: str, attempt: int) -> str:
        if recipient == "slow@example.org":
            stuck.set()
            go_on.wait(timeout=60)  # the relay sits on the DATA reply
        return "250 OK"

    smtp_server.handler.data_rule = stall_first
    settings = db.settings(lease_seconds=5)
    pool = SMTPPool(parse_smtp_url(smtp_server.url, timeout=60), connections=1)
    worker = DeliveryWorker(settings, db.factory, pool)
    stolen: list[int] = []
    checks: list[datetime] = []

    def other_worker_tries() -> bool:
        # Another worker's claim, as it would run on its own clock: nothing to take while
        # the first worker lives, however long the stuck conversation lasts.
        with db.session() as session:
            now = datetime.now(UTC)
            taken = claim(
                worker="other", limit=10, lease=timedelta(seconds=5), now=now, session=session
            )
            stolen.extend(c.id for c in taken)
            session.rollback()
        checks.append(now)
        return bool(checks) and checks[-1] - checks[0] > timedelta(seconds=8)  # 1.6 leases

    async def scenario() -> None:
        task = asyncio.create_task(worker.run(once=True))
        try:
            await asyncio.to_thread(stuck.wait, 30)
            await asyncio.to_thread(wait_until, other_worker_tries, 60)
        finally:
            go_on.set()
            await task

    asyncio.run(scenario())
    assert stolen == []
    assert {d.status for d in deliveries(db, campaign)} == {"sent"}
