"""The schedule: its table of jobs, the digest slot arithmetic, and exactly one scheduler."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from jobs.runtime import Runtime, install
from jobs.schedule import digest_missed, last_digest_slot, schedule_jobs, scheduled_alerts_job
from mailer.alerts import Draft, Schedule, approve, create_alert, edit_alert
from mailer.feeds.registry import SourceSpec, add_source
from mailer.locks import acquire, holder_of
from mailer.models import AuditEntry, Lock
from tests.conftest import Db, make_settings
from tests.support.factories import AMINA, add_admins, add_readers
from tests.support.feedserver import FeedServer
from tests.support.ledger import deliveries
from tests.support.waiting import wait_until


def test_every_job_is_declared_with_an_id_and_safe_options(tmp_path: Path) -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    schedule_jobs(scheduler, make_settings(tmp_path))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "poll-feeds",
        "weekly-digest",
        "delivery-sweep",
        "purge-unconfirmed",
        "catch-up-digest",
        "prepare-digest",
        "scheduled-alerts",
    }
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time and job.misfire_grace_time > 0
        assert ":" in job.func_ref  # importable, so the SQLAlchemy job store can keep it
    trigger = str(jobs["weekly-digest"].trigger)
    assert "day_of_week='mon'" in trigger and "hour='8'" in trigger
    prepare = str(jobs["prepare-digest"].trigger)
    assert "day_of_week='sat'" in prepare and "hour='8'" in prepare


def test_without_review_there_is_no_prepare_job(tmp_path: Path) -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    schedule_jobs(scheduler, make_settings(tmp_path, digest_review=False))
    assert "prepare-digest" not in {job.id for job in scheduler.get_jobs()}


def test_the_digest_slot_is_the_last_scheduled_time(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, digest_day="mon", digest_time="08:00")
    tuesday = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert last_digest_slot(settings, tuesday) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    early_monday = datetime(2026, 11, 23, 7, 59, tzinfo=UTC)
    assert last_digest_slot(settings, early_monday) == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
    geneva = make_settings(tmp_path, digest_timezone="Europe/Zurich")
    assert last_digest_slot(geneva, tuesday) == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def test_a_missed_digest_runs_once_within_the_grace_time(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    slot = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert digest_missed(settings, slot + timedelta(hours=2), has_campaign=False)
    assert not digest_missed(settings, slot + timedelta(hours=2), has_campaign=True)
    assert not digest_missed(settings, slot + timedelta(hours=7), has_campaign=False)


def test_the_lock_has_one_holder_until_it_expires(db: Db) -> None:
    now = datetime.now(UTC)
    ttl = timedelta(seconds=30)
    with db.session() as session:
        assert acquire("scheduler", "a", ttl=ttl, now=now, session=session)
        assert not acquire("scheduler", "b", ttl=ttl, now=now, session=session)
        assert acquire("scheduler", "a", ttl=ttl, now=now + timedelta(seconds=10), session=session)
        later = now + timedelta(seconds=41)
        assert acquire("scheduler", "b", ttl=ttl, now=later, session=session)
        assert holder_of("scheduler", now=later, session=session) == "b"
        session.commit()


def scheduler_process(db: Db, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2P_")}
    env.update(
        R2P_DATABASE_URL=db.url,
        R2P_VAR_DIR=str(tmp_path / "var"),
        R2P_SECRET_KEY="x",
        R2P_ALLOW_PRIVATE_FEEDS="true",
        R2P_POLL_EVERY="1h",
        R2P_SCHEDULER_LEASE="3s",
    )
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "service", "scheduler"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_two_schedulers_run_each_job_once_and_the_second_takes_over(
    db: Db, feed_server: FeedServer, tmp_path: Path
) -> None:
    with db.session() as session:
        url = feed_server.serve_file("/press.xml", "un-press/rss.xml")
        add_source(SourceSpec(key="press", url=url), allow_private=True, session=session)
        session.commit()
    first = scheduler_process(db, tmp_path, "first")
    second = scheduler_process(db, tmp_path, "second")
    try:
        wait_until(
            lambda: len(feed_server.requests_to("/press.xml")) >= 1, message="the start-up poll"
        )
        # The other one has found the lock held, so it runs no schedule (no second poll).
        wait_until(
            lambda: any(
                "another scheduler holds the lock" in (tmp_path / f"{name}.log").read_text()
                for name in ("first", "second")
            ),
            message="the second scheduler waiting for the lock",
        )
        assert len(feed_server.requests_to("/press.xml")) == 1
        with db.session() as session:
            holder = session.scalar(select(Lock.holder).where(Lock.name == "scheduler"))
        assert holder is not None
        pid = int(holder.split(":")[1])
        active, standby = (first, second) if pid == first.pid else (second, first)
        active.send_signal(signal.SIGKILL)
        active.wait()
        wait_until(lambda: len(feed_server.requests_to("/press.xml")) >= 2)
        with db.session() as session:
            new_holder = session.scalar(select(Lock.holder).where(Lock.name == "scheduler"))
        assert new_holder is not None and int(new_holder.split(":")[1]) == standby.pid
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(timeout=20) == 0
        with db.session() as session:  # a clean stop gives the lock back at once
            assert session.scalar(select(Lock.holder).where(Lock.name == "scheduler")) is None
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_the_digest_week_is_the_readers_week() -> None:
    from mailer.digest import iso_period

    # Monday 07:00 in Tokyo is still Sunday (week 47) in UTC.
    tokyo_monday = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)
    assert iso_period(tokyo_monday) == "2026-W47"
    assert iso_period(tokyo_monday, "Asia/Tokyo") == "2026-W48"


def test_the_scheduled_alerts_job_sends_what_is_due_and_audits_it(db: Db) -> None:
    reader_ids = add_readers(db, ["a@example.org"])
    now = datetime.now(UTC)
    add_admins(db, AMINA)
    with db.session() as session:
        campaign = create_alert(
            Draft("Imminent risk", "Civilians are trapped."),
            by=AMINA,
            expires_in=timedelta(hours=12),
            now=now - timedelta(hours=1),
            session=session,
        )
        edit_alert(
            campaign,
            None,
            schedule=Schedule(now - timedelta(seconds=1)),
            now=now - timedelta(hours=1),
            session=session,
        )
        approve(
            campaign,
            by=AMINA,
            settings=db.settings(),
            now=now - timedelta(hours=1),
            session=session,
        )
        session.commit()
        key = campaign.key
    woken: list[bool] = []
    install(Runtime(db.settings(), db.factory, wake_worker=lambda: woken.append(True)))
    scheduled_alerts_job(at=now)
    assert [d.subscriber_id for d in deliveries(db)] == reader_ids
    assert woken == [True]
    with db.session() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "alert.send"))
        assert entry is not None and (entry.actor, entry.target) == ("scheduler", key)
    scheduled_alerts_job(at=now)  # nothing left to send
    assert woken == [True]
