"""The one table of scheduled jobs. Every job: explicit id, replace_existing, coalesce,
max_instances=1 and a misfire grace time; job functions are plain importable functions
that take their context from ``jobs.runtime``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.poll import poll_sources
from jobs.runtime import current
from mailer.config import Settings
from mailer.db import run_with_retry, session_scope
from mailer.digest import campaign_key, iso_period, issue_digest
from mailer.models import Campaign
from mailer.outbox.campaigns import expire_campaigns
from mailer.outbox.ledger import requeue_expired_leases
from mailer.web.ratelimit import forget_old_hits
from subscribers.purge import purge_unconfirmed

log = logging.getLogger(__name__)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DIGEST_GRACE = timedelta(hours=6)
# How often the running scheduler checks for a weekly issue it missed (the database was
# locked or down at the slot, nobody could read it yet): the same week key keeps the
# check idempotent, and it only acts within DIGEST_GRACE of the slot.
CATCH_UP_EVERY = timedelta(minutes=5)


async def poll_feeds_job() -> None:
    runtime = current()
    outcomes = await poll_sources(runtime.settings, runtime.factory)
    failed = sorted(o.key for o in outcomes if o.status in {"failed", "gone"})
    log.info(
        "poll finished: %d new item(s) from %d feed(s)%s",
        sum(o.new for o in outcomes),
        len(outcomes),
        f"; failed: {', '.join(failed)}" if failed else "",
    )


def last_digest_slot(settings: Settings, now: datetime) -> datetime:
    """The latest scheduled digest time at or before ``now`` (in UTC)."""
    zone = ZoneInfo(settings.digest_timezone)
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    local = now.astimezone(zone)
    slot = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    slot -= timedelta(days=(local.weekday() - DAYS.index(settings.digest_day)) % 7)
    if slot > local:
        slot -= timedelta(days=7)
    return slot.astimezone(UTC)


def weekly_digest_job() -> None:
    """Create and queue this week's issue (idempotent: one per ISO week), trying again
    while the database is locked or unreachable (``issue_digest``)."""
    runtime = current()
    now = datetime.now(UTC)
    period = iso_period(last_digest_slot(runtime.settings, now), runtime.settings.digest_timezone)
    issued = issue_digest(runtime.factory, settings=runtime.settings, period=period)
    log.info("weekly digest: %s", issued.message)
    runtime.wake_worker()


def digest_missed(settings: Settings, now: datetime, *, has_campaign: bool) -> bool:
    """A scheduled issue within the grace time that was never created (we were down)."""
    return not has_campaign and now - last_digest_slot(settings, now) <= DIGEST_GRACE


def catch_up_digest() -> None:
    """Make this week's issue if it was missed (no scheduler was up at the slot, or the
    job failed or found nothing to send then) and the slot is within the grace time.
    Runs when a scheduler starts and every CATCH_UP_EVERY while it runs."""
    runtime = current()
    now = datetime.now(UTC)
    settings = runtime.settings
    key = campaign_key(iso_period(last_digest_slot(settings, now), settings.digest_timezone))
    with session_scope(runtime.factory) as session:
        exists = session.scalar(select(Campaign.id).where(Campaign.key == key)) is not None
    if digest_missed(runtime.settings, now, has_campaign=exists):
        log.info("catching up the missed digest %s", key)
        weekly_digest_job()


def delivery_sweep_job() -> None:
    """Return rows of vanished workers to the queue; cancel what expired alerts left."""
    runtime = current()
    now = datetime.now(UTC)

    def sweep(session: Session) -> tuple[int, dict[str, int]]:
        return (
            requeue_expired_leases(now=now, session=session),
            expire_campaigns(now=now, session=session),
        )

    requeued, expired = run_with_retry(runtime.factory, sweep)
    if requeued:
        log.warning("requeued %d deliveries whose worker vanished", requeued)
    for key, cancelled in expired.items():
        log.warning("campaign %s expired: %d unsent deliveries cancelled", key, cancelled)
    if requeued:
        runtime.wake_worker()


def purge_unconfirmed_job() -> None:
    """Unconfirmed signups past their grace period, and rate-limit counts past their window."""
    runtime = current()
    settings = runtime.settings
    now = datetime.now(UTC)

    def purge(session: Session) -> int:
        purged = purge_unconfirmed(
            now=now, older_than=settings.pending_purge_after, session=session
        )
        forget_old_hits(
            now=now,
            older_than=max(settings.signup_rate_window, settings.login_rate_window),
            session=session,
        )
        return purged

    purged = run_with_retry(runtime.factory, purge)
    if purged:
        log.info("purged %d unconfirmed signups", purged)


def schedule_jobs(scheduler: Any, settings: Settings) -> None:
    """Add every job to an APScheduler 3 scheduler (replacing stored copies)."""
    every = settings.poll_every.total_seconds()
    hour, minute = settings.digest_time.split(":")
    common: dict[str, Any] = {"replace_existing": True, "coalesce": True, "max_instances": 1}
    scheduler.add_job(
        poll_feeds_job,
        "interval",
        seconds=every,
        id="poll-feeds",
        name="poll feeds",
        next_run_time=datetime.now(UTC),
        misfire_grace_time=int(max(every / 2, 30)),
        **common,
    )
    digest_trigger: dict[str, Any]
    if settings.digest_every is not None:
        digest_trigger = {"trigger": "interval", "seconds": settings.digest_every.total_seconds()}
    else:
        digest_trigger = {
            "trigger": "cron",
            "day_of_week": settings.digest_day,
            "hour": int(hour),
            "minute": int(minute),
            "timezone": settings.digest_timezone,
        }
    scheduler.add_job(
        weekly_digest_job,
        id="weekly-digest",
        name="weekly digest",
        misfire_grace_time=int(DIGEST_GRACE.total_seconds()),
        **digest_trigger,
        **common,
    )
    scheduler.add_job(
        delivery_sweep_job,
        "interval",
        seconds=60,
        id="delivery-sweep",
        name="delivery sweep and alert expiry",
        misfire_grace_time=60,
        **common,
    )
    scheduler.add_job(
        purge_unconfirmed_job,
        "interval",
        hours=6,
        id="purge-unconfirmed",
        name="purge unconfirmed signups",
        misfire_grace_time=3600,
        **common,
    )
    scheduler.add_job(
        catch_up_digest,
        "interval",
        seconds=CATCH_UP_EVERY.total_seconds(),
        next_run_time=datetime.now(UTC),
        id="catch-up-digest",
        name="catch up a missed digest",
        misfire_grace_time=int(max(CATCH_UP_EVERY.total_seconds() / 2, 1)),
        **common,
    )
