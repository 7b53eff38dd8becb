"""The one table of scheduled jobs. Every job: explicit id, replace_existing, coalesce,
max_instances=1 and a misfire grace time; job functions are plain importable functions.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from jobs.poll import poll_sources
from mailer.config import Settings

log = logging.getLogger(__name__)


async def poll_feeds_job(settings: Settings, factory: sessionmaker[Session]) -> None:
    outcomes = await poll_sources(settings, factory)
    failed = sorted(o.key for o in outcomes if o.status in {"failed", "gone"})
    log.info(
        "poll finished: %d new item(s) from %d feed(s)%s",
        sum(o.new for o in outcomes),
        len(outcomes),
        f"; failed: {', '.join(failed)}" if failed else "",
    )


def schedule_jobs(scheduler: Any, settings: Settings, factory: sessionmaker[Session]) -> None:
    """Add every job to an APScheduler 3 scheduler."""
    every = settings.poll_every.total_seconds()
    scheduler.add_job(
        poll_feeds_job,
        "interval",
        seconds=every,
        id="poll-feeds",
        name="poll feeds",
        kwargs={"settings": settings, "factory": factory},
        next_run_time=datetime.now(UTC),
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(max(every / 2, 30)),
    )
