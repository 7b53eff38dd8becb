"""Workers as real processes: killed mid-campaign and restarted, or two at once on
PostgreSQL. Every reader gets the message; nobody twice beyond what was in flight."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from mailer.models import Delivery, Subscriber
from tests.conftest import Db
from tests.support.factories import alert_campaign
from tests.support.ledger import deliveries
from tests.support.smtpserver import SMTPServer
from tests.support.waiting import wait_until

# Enough for several batches each way (killed mid-campaign, two workers taking turns); every
# message passes through the test's own SMTP server, so more only costs the run CPU.
READERS = 1000


def bulk_readers(db: Db, count: int) -> list[int]:
    with db.session() as session:
        session.execute(
            insert(Subscriber),
            [{"email": f"reader{i:05d}@example.org", "status": "active"} for i in range(count)],
        )
        session.commit()
        return list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))


def addresses(db: Db, subscriber_ids: set[int]) -> set[str]:
    with db.session() as session:
        query = select(Subscriber.email).where(Subscriber.id.in_(subscriber_ids))
        return set(session.scalars(query))


def worker_process(
    db: Db, smtp: SMTPServer, tmp_path: Path, **settings: str
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2P_")}
    env.update(
        R2P_DATABASE_URL=db.url,
        R2P_SMTP_URL=smtp.url,
        R2P_VAR_DIR=str(tmp_path / "var"),
        R2P_SECRET_KEY="test-secret",
        R2P_SMTP_CONNECTIONS="4",
        **settings,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "service", "deliver", "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_worker_killed_mid_campaign_loses_nothing_and_resends_only_what_was_in_flight(
    db: Db, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    readers = bulk_readers(db, READERS)
    campaign = alert_campaign(db, readers)
    batch = "250"
    first = worker_process(
        db, smtp_server, tmp_path, R2P_DELIVERY_BATCH=batch, R2P_LEASE_SECONDS="5"
    )
    wait_until(lambda: len(smtp_server.received) >= 300 or first.poll() is not None)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    sending = [d for d in deliveries(db, campaign) if d.status == "sending"]
    in_flight = {d.subscriber_id for d in sending}
    assert 0 < len(smtp_server.received) < READERS
    assert len(in_flight) <= int(batch)

    leases = [d.lease_until for d in sending if d.lease_until is not None]
    lease_ends = max(leases, default=datetime.now(UTC))
    wait_until(lambda: datetime.now(UTC) > lease_ends, message="the killed worker's lease end")
    second = worker_process(
        db, smtp_server, tmp_path, R2P_DELIVERY_BATCH=batch, R2P_LEASE_SECONDS="5"
    )
    assert second.wait(timeout=120) == 0, second.stderr.read() if second.stderr else ""

    counts = collections.Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert len(counts) == READERS
    twice = {address for address, n in counts.items() if n > 1}
    assert all(n <= 2 for n in counts.values())
    # Only rows the killed worker still held can go out twice (what it sent but had not
    # recorded yet; replies are recorded every 100 ms or 100 messages), never the rest of
    # the batch or anything it had recorded.
    held = addresses(db, in_flight)
    assert twice <= held, sorted(twice - held)[:5]
    assert len(twice) < int(batch), len(twice)
    ids: dict[str, set[str]] = collections.defaultdict(set)
    for received in smtp_server.received:
        ids[received.rcpt_tos[0]].add(received.message["Message-ID"])
    assert all(len(ids[address]) == 1 for address in twice)  # the repeat reuses its id
    assert len({next(iter(v)) for v in ids.values()}) == READERS
    with db.session() as session:
        in_flight_addresses = set(
            session.scalars(select(Subscriber.email).where(Subscriber.id.in_(in_flight)))
        )
    assert twice <= in_flight_addresses
    assert {d.status for d in deliveries(db, campaign)} == {"sent"}


@pytest.mark.postgres
def test_two_workers_on_postgresql_never_send_to_a_reader_twice(
    db: Db, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    if db.backend != "postgresql":
        pytest.skip("several workers at once need PostgreSQL (SKIP LOCKED)")
    readers = bulk_readers(db, READERS)
    campaign = alert_campaign(db, readers)
    workers = [
        worker_process(db, smtp_server, tmp_path, R2P_DELIVERY_BATCH="50", R2P_SMTP_RATE="500")
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read() if worker.stderr else ""
    counts = collections.Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert len(counts) == READERS and set(counts.values()) == {1}
    rows = deliveries(db, campaign)
    assert {d.status for d in rows} == {"sent"}
    with db.session() as session:
        claimers = set(session.scalars(select(Delivery.claimed_by).distinct()))
    assert len(claimers) == 2, "both workers should have taken part"


def test_sigterm_stops_a_worker_mid_campaign_with_nothing_left_in_flight(
    db: Db, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    campaign = alert_campaign(db, bulk_readers(db, 600))
    worker = worker_process(
        db, smtp_server, tmp_path, R2P_DELIVERY_BATCH="200", R2P_SMTP_RATE="100"
    )
    wait_until(lambda: len(smtp_server.received) >= 50)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    rows = deliveries(db, campaign)
    statuses = collections.Counter(d.status for d in rows)
    assert statuses["sending"] == 0
    assert statuses["sent"] == len(smtp_server.received) < 600
    assert statuses["queued"] == 600 - statuses["sent"]  # released, not lost
    with db.session() as session:  # the released rows' attempt did not count
        assert all(d.attempts == 0 for d in rows if d.status == "queued")
        assert session.scalar(select(Delivery.id).where(Delivery.status == "sending")) is None
