"""Running the schedule: exactly one scheduler at a time, enforced through the database.

Every process that wants to schedule tries to hold the ``scheduler`` lease. The holder
runs APScheduler (jobs stored in the service database by SQLAlchemyJobStore) and renews
the lease; the others wait, and take over when the holder stops renewing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from jobs.deliver import worker_name
from jobs.runtime import Runtime, install
from jobs.schedule import schedule_jobs
from mailer.db import run_with_retry
from mailer.locks import acquire, release

log = logging.getLogger(__name__)
LOCK = "scheduler"


class SchedulerHost:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.name = worker_name()
        self.ttl = runtime.settings.scheduler_lease
        self.renew_every = self.ttl.total_seconds() / 3
        self.scheduler: AsyncIOScheduler | None = None

    def _hold(self) -> bool:
        # Retried within a third of the lease, so a renewal that keeps failing still
        # leaves time to stop the schedule before another process may take over.
        return run_with_retry(
            self.runtime.factory,
            lambda session: acquire(
                LOCK, self.name, ttl=self.ttl, now=datetime.now(UTC), session=session
            ),
            deadline=self.renew_every,
        )

    def _let_go(self) -> None:
        run_with_retry(
            self.runtime.factory,
            lambda session: release(LOCK, self.name, session=session),
            deadline=self.renew_every,
        )

    def _start(self) -> None:
        install(self.runtime)
        engine = self.runtime.factory.kw["bind"]
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine)}, timezone="UTC"
        )
        schedule_jobs(self.scheduler, self.runtime.settings)
        self.scheduler.start()
        log.info("scheduler %s holds the lock and runs the schedule", self.name)

    def _stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None

    async def run(self, stop: asyncio.Event) -> None:
        """Hold the lock and schedule, or wait for it, until ``stop`` is set."""
        waiting_logged = False
        try:
            while not stop.is_set():
                try:
                    holding = await asyncio.to_thread(self._hold)
                except Exception:
                    log.exception("cannot reach the database to renew the scheduler lock")
                    holding = False
                if holding and self.scheduler is None:
                    try:
                        self._start()
                    except Exception:
                        log.exception("cannot start the schedule; trying again shortly")
                        self._stop()
                elif not holding and self.scheduler is not None:
                    log.warning("scheduler %s lost the lock; stopping its schedule", self.name)
                    self._stop()
                elif not holding and not waiting_logged:
                    log.info("another scheduler holds the lock; %s waits", self.name)
                    waiting_logged = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.renew_every)
        finally:
            was_holding = self.scheduler is not None
            self._stop()
            if was_holding:
                await asyncio.to_thread(self._let_go)

    def alive(self) -> bool:
        return self.scheduler is not None and self.scheduler.running
