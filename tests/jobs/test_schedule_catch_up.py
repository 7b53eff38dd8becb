"""A weekly issue the scheduler could not make at its slot is made by the running scheduler
as soon as it can be (within the catch-up window), not only when a scheduler starts."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

import jobs.schedule
from jobs.poll import poll_sources
from jobs.runtime import Runtime
from jobs.schedule import DAYS
from jobs.scheduler import SchedulerHost
from mailer.digest import campaign_key, iso_period
from mailer.feeds.registry import SourceSpec, add_source
from mailer.models import Campaign, Delivery
from tests.conftest import Db
from tests.support.factories import add_readers
from tests.support.feedserver import FeedServer
from tests.support.waiting import wait_until


@pytest.fixture
def with_items(db: Db, feed_server: FeedServer) -> Db:
    with db.session() as session:
        url = feed_server.serve_this_weeks("/globalr2p", "globalr2p/feed.xml")
        add_source(
            SourceSpec(key="globalr2p", url=url, always_relevant=True),
            allow_private=True,
            session=session,
        )
        session.commit()
    asyncio.run(poll_sources(db.settings(), db.factory))
    return db


@pytest.fixture
def running_scheduler(
    with_items: Db, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Db, datetime]]:
    """A scheduler host running in this process whose digest slot passed two minutes ago,
    checking for a missed issue every second."""
    monkeypatch.setattr(jobs.schedule, "CATCH_UP_EVERY", timedelta(seconds=1))
    slot = (datetime.now(UTC) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    settings = with_items.settings(
        digest_day=DAYS[slot.weekday()],
        digest_time=slot.strftime("%H:%M"),
        digest_timezone="UTC",
        poll_every="1h",
        scheduler_lease="3s",
        digest_review=False,
    )
    host = SchedulerHost(Runtime(settings, with_items.factory))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(host.run(stop),))
    thread.start()
    try:
        yield with_items, slot
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
    assert not thread.is_alive()


def test_the_running_scheduler_makes_an_issue_it_could_not_make_at_start(
    running_scheduler: tuple[Db, datetime], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jobs.schedule")
    db, slot = running_scheduler
    # At start there is no reader yet (the list was still being imported): no issue.
    wait_until(lambda: any("no reader" in r.getMessage() for r in caplog.records))
    add_readers(db, ["late@example.org", "later@example.org"])
    key = campaign_key(iso_period(slot))

    def made() -> bool:
        with db.session() as session:
            return session.scalar(select(Campaign.id).where(Campaign.key == key)) is not None

    wait_until(made)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2
        assert session.scalar(select(func.count()).select_from(Campaign)) == 1
