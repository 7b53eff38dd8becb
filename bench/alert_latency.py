"""How fast an approved alert's first message leaves (goal: within 1 s).

    .venv/bin/python bench/alert_latency.py [--trials 10] [--readers 2000]

A delivery worker idles as in `r2p-mailer run`; an alert is approved with a queue of
digest traffic already waiting, and we time approval -> first alert message accepted by a
local SMTP server. Measured twice: with the in-process wake-up that `run` uses, and with
a worker that only polls (a separate `r2p-mailer worker`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from jobs.deliver import DeliveryWorker
from mailer.alerts import Draft, approve, create_alert
from mailer.config import Settings
from mailer.db import make_engine, make_sessionmaker, session_scope
from mailer.migrate import upgrade_to_head
from mailer.models import Admin, Subscriber
from mailer.outbox.campaigns import get_or_create_campaign, start
from mailer.outbox.ledger import enqueue
from mailer.outbox.status import Priority
from mailer.sending.smtp import SMTPPool, parse_smtp_url
from tests.support.smtpserver import SMTPServer

BATCH = 200


async def one_trial(settings: Settings, factory: object, smtp: SMTPServer, wake: bool) -> float:
    worker = DeliveryWorker(
        settings,
        factory,  # type: ignore[arg-type]
        SMTPPool(parse_smtp_url(smtp.url), connections=4),
    )
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)  # the worker is busy with digest traffic
    start_count = len(smtp.received)
    now = datetime.now(UTC)
    subject = f"Alert {now:%H%M%S%f}"
    with session_scope(factory) as session:  # type: ignore[arg-type]
        alert = create_alert(
            Draft(subject, "Act now."),
            by="bench",
            expires_in=timedelta(hours=1),
            now=now,
            session=session,
        )
        approve(alert, by="bench", settings=settings, now=now, session=session)
    started = time.perf_counter()
    if wake:
        worker.wake()
    arrived = asyncio.Event()

    async def watch() -> None:
        # The SMTP server offers no event to wait on: poll it, looking at new mail only
        # (parsing every message each time would starve the worker being measured).
        seen = start_count
        wanted = subject.encode()
        while True:
            fresh = smtp.received[seen:]
            seen += len(fresh)
            if any(wanted in r.data.split(b"\r\n\r\n", 1)[0] for r in fresh):
                break
            await asyncio.sleep(0.002)
        arrived.set()

    watcher = asyncio.create_task(watch())
    await arrived.wait()
    latency = time.perf_counter() - started
    await watcher
    worker.stop()
    await running
    return latency


def queue_digest_traffic(settings: Settings, factory: object, readers: int) -> None:
    """A low-priority campaign to every reader, so alerts have to overtake it."""
    now = datetime.now(UTC)
    with session_scope(factory) as session:  # type: ignore[arg-type]
        campaign, _ = get_or_create_campaign(
            kind="alert",
            key=f"traffic:{now:%H%M%S%f}",
            template="alert",
            subject="Digest traffic",
            context={"body": "Weekly news.", "link": ""},
            priority=Priority.DIGEST,
            session=session,
        )
        start(campaign, by="bench", now=now, session=session)
        ids = session.scalars(select(Subscriber.id)).all()
        enqueue(
            campaign,
            [(i, "en") for i in ids[:readers]],
            deadline_at=now + timedelta(days=1),
            now=now,
            session=session,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--readers", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SMTPServer() as smtp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, var_dir=Path(tmp), secret_key="bench", delivery_batch=BATCH
        )
        engine = make_engine(settings.database, create=True)
        upgrade_to_head(engine)
        factory = make_sessionmaker(engine)
        with session_scope(factory) as session:
            session.add(Admin(email="bench", password_hash="-"))  # the approver
            session.execute(
                insert(Subscriber),
                [{"email": f"r{i}@example.org", "status": "active"} for i in range(args.readers)],
            )
            assert session.scalar(select(Subscriber.id).limit(1)) is not None
        results: dict[bool, list[float]] = {True: [], False: []}
        for wake in (True, False):
            for _ in range(args.trials):
                queue_digest_traffic(settings, factory, args.readers)
                results[wake].append(asyncio.run(one_trial(settings, factory, smtp, wake)))
        engine.dispose()
    print(
        f"approval -> first alert message accepted, {args.readers} readers, a digest of "
        f"{args.readers} queued ahead (batch {BATCH}), "
        f"{args.trials} trials (goal < 1 s)"
    )
    for wake, label in ((True, "run (in-process wake-up)"), (False, "separate worker (polls)")):
        values = results[wake]
        print(
            f"  {label:26s} median {statistics.median(values) * 1000:6.0f} ms, "
            f"max {max(values) * 1000:6.0f} ms"
        )


if __name__ == "__main__":
    main()
