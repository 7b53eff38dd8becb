"""The relay's circuit breaker against a real SMTP server on loopback that goes down
(connection refused) and comes back on the same port: the breaker opens, claims stop, one
probe tests the relay every R2P_BREAKER_PROBE_EVERY, and when it closes the queue drains at
once, with the rows it held back neither retried one by one nor pushed out by backoff."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from jobs.deliver import DeliveryWorker
from mailer.models import WorkerStatus
from mailer.sending.base import SendResult
from mailer.sending.breaker import Breaker
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries, smtp_sender
from tests.support.smtpserver import SMTPServer, _free_port
from tests.support.waiting import wait_until

READERS = 300
FEW_READERS = 20  # fewer than half a batch
LONG_LEASE = 300  # seconds: a row left `sending` would wait this long


def status_row(db: Db, name: str) -> WorkerStatus | None:
    with db.session() as session:
        return session.get(WorkerStatus, name)


def test_the_breaker_opens_while_the_relay_is_down_and_the_queue_drains_when_it_returns(
    db: Db,
) -> None:
    server = SMTPServer(port=_free_port())  # down: nothing listens on its port yet
    campaign = alert_campaign(
        db, add_readers(db, [f"r{i:03d}@example.org" for i in range(READERS)])
    )
    settings = db.settings(
        breaker_failures=5, breaker_probe_every=timedelta(seconds=1), delivery_batch=100
    )
    worker = DeliveryWorker(settings, db.factory, smtp_sender(server.url, connections=4))
    figures: dict[str, float] = {}

    def breaker_is(state: str) -> bool:
        row = status_row(db, worker.name)
        return row is not None and row.breaker == state

    async def scenario() -> None:
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.to_thread(wait_until, lambda: breaker_is("open"), 30)
            opened = status_row(db, worker.name)
            assert opened is not None and "cannot connect" in opened.breaker_reason
            # Let it probe a few times against the closed port.
            start = worker.counters.attempts
            await asyncio.to_thread(wait_until, lambda: worker.counters.attempts >= start + 2, 30)

            def given_back() -> bool:  # recorded by the worker's writer, maybe after a probe
                queued = [d for d in deliveries(db, campaign) if d.status == "queued"]
                return len(queued) >= READERS - 4

            # Well within the 30 s lease: rows only a lease's end would free fail this.
            await asyncio.to_thread(
                wait_until, given_back, 10, message="the batch given back to the queue"
            )
            rows = deliveries(db, campaign)
            now = datetime.now(UTC)
            waiting = [d for d in rows if d.status == "queued"]
            # Held back by the breaker: their attempts not counted, due now (failed probes:
            # after one probe interval, so that the next probe tries another reader).
            assert len(waiting) >= READERS - 4
            assert all(d.attempts == 0 for d in waiting)
            assert all(d.next_attempt_at <= now + timedelta(seconds=1) for d in waiting)
            assert len({d.id for d in waiting if d.next_attempt_at > now}) <= 2
            figures["attempts_during_outage"] = worker.counters.attempts
            server.start()
            returned = time.monotonic()
            await asyncio.to_thread(
                wait_until, lambda: {d.status for d in deliveries(db, campaign)} == {"sent"}, 60
            )
            figures["drained_after"] = time.monotonic() - returned
            await asyncio.to_thread(wait_until, lambda: breaker_is("closed"), 30)
        finally:
            worker.stop()
            await task
            server.stop()

    asyncio.run(scenario())
    print(f"breaker outage figures: {figures}")
    # Far fewer attempts than queued rows: the breaker stopped claims after a few failures.
    assert figures["attempts_during_outage"] < READERS / 3
    assert sorted(r.rcpt_tos[0] for r in server.received) == sorted(
        f"r{i:03d}@example.org" for i in range(READERS)
    )
    row = status_row(db, worker.name)
    assert row is not None and row.counters["errors"]["connection"] >= 5
    assert row.counters["sent"] == READERS


def state(breaker: Breaker) -> str:
    return breaker.state


def test_a_run_of_4xx_across_recipients_opens_the_breaker_but_one_greylisting_does_not() -> None:
    breaker = Breaker(failures=3, probe_every=1.0)
    grey = SendResult.from_code(451, "4.7.1 greylisted")
    ok = SendResult("sent", 250, "OK")
    refused = SendResult.from_code(550, "5.1.1 no such user", address_refused=True)
    for result in (grey, grey, ok, grey, refused, grey, grey):
        breaker.record(result)
    assert state(breaker) == "closed"  # a 2xx or a 5xx proves the relay answers
    breaker.record(grey)
    assert state(breaker) == "open" and "451" in breaker.reason
    assert breaker.record(SendResult.from_code(421, "4.3.2 shutting down")) is False
    assert breaker.probe_due(now=breaker.since + 0.5) is False
    assert breaker.probe_due(now=breaker.since + 1.0) is True
    breaker.probing()
    assert state(breaker) == "half-open"
    breaker.record(grey)
    assert state(breaker) == "open"
    breaker.probing()
    breaker.record(ok)
    assert state(breaker) == "closed" and breaker.reason == ""


def test_rows_the_open_breaker_held_back_are_not_kept_sending_and_go_out_when_the_relay_returns(
    db: Db,
) -> None:
    """A queue smaller than half a batch: the breaker opens on the first rows while the
    rest of the batch waits. The rows it held back must go back to the queue, not be
    claimed again (unsent, uncounted) by the same transaction's top-up and left ``sending``
    until their lease ends; when the relay returns, every row goes out long before the
    lease could have run out, each on its first counted attempt."""
    server = SMTPServer(port=_free_port())  # down: nothing listens on its port yet
    emails = [f"few{i:02d}@example.org" for i in range(FEW_READERS)]
    campaign = alert_campaign(db, add_readers(db, emails))
    settings = db.settings(
        breaker_failures=3,
        breaker_probe_every=timedelta(seconds=1),
        lease_seconds=LONG_LEASE,
    )
    worker = DeliveryWorker(settings, db.factory, smtp_sender(server.url, connections=4))

    async def scenario() -> None:
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.to_thread(wait_until, lambda: worker.breaker.state != "closed", 30)
            start = worker.counters.attempts
            await asyncio.to_thread(wait_until, lambda: worker.counters.attempts >= start + 2, 30)
            server.start()
            # Well inside the lease: a row kept ``sending`` would wait for all of it.
            await asyncio.to_thread(
                wait_until,
                lambda: {d.status for d in deliveries(db, campaign)} == {"sent"},
                LONG_LEASE / 5,
                message="every row sent before its lease could have run out",
            )
        finally:
            worker.stop()
            await task
            server.stop()

    asyncio.run(scenario())
    assert sorted(r.rcpt_tos[0] for r in server.received) == sorted(emails)
    # The breaker's deferrals and the failed probes were not counted as attempts.
    assert {d.attempts for d in deliveries(db, campaign)} == {1}
