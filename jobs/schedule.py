"""The one table of scheduled jobs. Every job: explicit id, replace_existing, coalesce,
max_instances=1 and a misfire grace time; job functions are plain importable functions
that take their context from ``jobs.runtime``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from jobs.mailbox import bounce_mailbox_job
from jobs.poll import poll_sources
from jobs.runtime import current
from mailer import alerts, digest_draft, notices
from mailer.admins import audit
from mailer.bounces.relays import REFUSALS_WINDOW, TOKEN_WINDOW
from mailer.config import Settings
from mailer.db import run_with_retry, session_scope
from mailer.digest import campaign_key, iso_period, issue_digest
from mailer.models import Campaign
from mailer.notices import admin_addresses
from mailer.outbox.campaigns import expire_campaigns
from mailer.outbox.ledger import requeue_expired_leases
from mailer.outbox.status import CampaignStatus
from mailer.web.ratelimit import forget_old_hits
from subscribers.purge import purge_unconfirmed

log = logging.getLogger(__name__)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DIGEST_GRACE = timedelta(hours=6)
# How often the running scheduler checks for a weekly issue it missed (the database was
# locked or down at the slot, nobody could read it yet): the same week key keeps the
# check idempotent, and it only acts within DIGEST_GRACE of the slot.
CATCH_UP_EVERY = timedelta(minutes=5)
# How often the running scheduler looks for scheduled alerts whose send time has come: an
# alert goes out at most this long after its send time.
SCHEDULED_ALERTS_EVERY = timedelta(seconds=15)


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


def next_digest_slot(settings: Settings, now: datetime) -> datetime:
    """The first scheduled digest time after ``now`` (in UTC)."""
    return last_digest_slot(settings, now) + timedelta(days=7)


def _clock(at: datetime | None) -> datetime:
    return at if at is not None else datetime.now(UTC)


def weekly_digest_job(at: datetime | None = None) -> None:
    """This week's slot (``at``: the scheduler's clock, default now). Without review:
    create and queue the issue (idempotent: one per ISO week), trying again while the
    database is locked or unreachable (``issue_digest``). With review: queue the approved
    issue, or hold one still in review and tell the admins (``digest_draft.at_slot``)."""
    runtime = current()
    settings = runtime.settings
    now = _clock(at)
    period = iso_period(last_digest_slot(settings, now), settings.digest_timezone)
    if not settings.digest_review:
        issued = issue_digest(runtime.factory, settings=settings, period=period)
        log.info("weekly digest: %s", issued.message)
        runtime.wake_worker()
        return
    outcome = run_with_retry(
        runtime.factory,
        lambda session: digest_draft.at_slot(
            settings=settings, period=period, now=now, session=session
        ),
    )
    log.info("weekly digest: %s", outcome.message)
    if outcome.queued:
        runtime.wake_worker()
    if outcome.newly_held and outcome.campaign is not None:
        email_admins(*digest_draft.held_notice(settings, outcome.campaign))


def prepare_digest_job(at: datetime | None = None) -> None:
    """R2P_DIGEST_PREPARE_AT before the slot: make the coming issue a draft for review
    (once: the week's key) and email the admins a link to it."""
    runtime = current()
    settings = runtime.settings
    now = _clock(at)
    slot = next_digest_slot(settings, now)
    period = iso_period(slot, settings.digest_timezone)
    issued = run_with_retry(
        runtime.factory,
        lambda session: digest_draft.prepare(
            settings=settings, period=period, now=now, by="scheduler", session=session
        ),
    )
    log.info("digest for review: %s", issued.message)
    if issued.campaign is not None:
        email_admins(*digest_draft.ready_notice(settings, issued.campaign, slot))


def email_admins(subject: str, text: str) -> None:
    """Mail every active admin directly through the configured transport (admins are not
    readers: no ledger row); a refused or failed message is logged, never raised."""
    runtime = current()
    with session_scope(runtime.factory) as session:
        addresses = admin_addresses(session=session)
    asyncio.run(notices.email_admins(runtime.settings, addresses, subject, text))


def digest_missed(settings: Settings, now: datetime, *, has_campaign: bool) -> bool:
    """A scheduled issue within the grace time that was never created (we were down)."""
    return not has_campaign and now - last_digest_slot(settings, now) <= DIGEST_GRACE


def _issue_status(key: str, factory: sessionmaker[Session]) -> tuple[str, str] | None:
    """(campaign status, review state) of the issue with this key, or None."""
    with session_scope(factory) as session:
        campaign = session.scalar(select(Campaign).where(Campaign.key == key))
        if campaign is None:
            return None
        return str(campaign.status), digest_draft.review_state(campaign)


def slot_pending(settings: Settings, now: datetime, status: tuple[str, str] | None) -> bool:
    """Within the grace time of a slot whose issue was neither sent nor held yet."""
    if now - last_digest_slot(settings, now) > DIGEST_GRACE:
        return False
    if status is None:
        return True
    return status[0] == CampaignStatus.DRAFT and status[1] != "held"


def catch_up_digest(at: datetime | None = None) -> None:
    """Make this week's issue if it was missed (no scheduler was up at the slot, or the
    job failed or found nothing to send then) and the slot is within the grace time; under
    review, also prepare the coming issue if its prepare time passed unnoticed.
    Runs when a scheduler starts and every CATCH_UP_EVERY while it runs."""
    runtime = current()
    now = _clock(at)
    settings = runtime.settings
    key = campaign_key(iso_period(last_digest_slot(settings, now), settings.digest_timezone))
    status = _issue_status(key, runtime.factory)
    if not settings.digest_review:
        if digest_missed(settings, now, has_campaign=status is not None):
            log.info("catching up the missed digest %s", key)
            weekly_digest_job(at)
        return
    if slot_pending(settings, now, status):
        log.info("catching up the digest slot of %s", key)
        weekly_digest_job(at)
    coming = next_digest_slot(settings, now)
    coming_key = campaign_key(iso_period(coming, settings.digest_timezone))
    if (
        coming - now <= settings.digest_prepare_at
        and _issue_status(coming_key, runtime.factory) is None
    ):
        prepare_digest_job(at)


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


def scheduled_alerts_job(at: datetime | None = None) -> None:
    """Queue the approved alerts whose send time has come (``mailer.alerts.send_due``),
    audit each as sent by the scheduler, and wake the worker."""
    runtime = current()
    now = _clock(at)

    def send(session: Session) -> dict[str, int]:
        queued = alerts.send_due(now=now, session=session)
        for key, count in queued.items():
            audit("scheduler", "alert.send", target=key, now=now, session=session, queued=count)
        return queued

    queued = run_with_retry(runtime.factory, send)
    for key, count in queued.items():
        log.info("scheduled alert %s sent: %d delivery(ies) queued", key, count)
    if queued:
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
            older_than=max(
                settings.signup_rate_window,
                settings.login_rate_window,
                TOKEN_WINDOW,
                REFUSALS_WINDOW,
            ),
            session=session,
        )
        return purged

    purged = run_with_retry(runtime.factory, purge)
    if purged:
        log.info("purged %d unconfirmed signups", purged)


def prepare_trigger(settings: Settings) -> dict[str, Any]:
    """The weekly cron trigger R2P_DIGEST_PREPARE_AT before the digest slot."""
    zone = ZoneInfo(settings.digest_timezone)
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    # Any week serves: 2026-01-05 is a Monday; the weekday and time are what matter.
    monday = datetime(2026, 1, 5, hour, minute, tzinfo=zone)
    slot = monday + timedelta(days=DAYS.index(settings.digest_day))
    when = slot - settings.digest_prepare_at
    return {
        "trigger": "cron",
        "day_of_week": DAYS[when.weekday()],
        "hour": when.hour,
        "minute": when.minute,
        "timezone": settings.digest_timezone,
    }


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
    if settings.digest_review and settings.digest_every is None:
        scheduler.add_job(
            prepare_digest_job,
            id="prepare-digest",
            name="prepare the digest for review",
            misfire_grace_time=int(DIGEST_GRACE.total_seconds()),
            **prepare_trigger(settings),
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
        scheduled_alerts_job,
        "interval",
        seconds=SCHEDULED_ALERTS_EVERY.total_seconds(),
        next_run_time=datetime.now(UTC),
        id="scheduled-alerts",
        name="send scheduled alerts",
        misfire_grace_time=int(SCHEDULED_ALERTS_EVERY.total_seconds()),
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
    if settings.bounce_mailbox_url is not None:
        mailbox_every = settings.bounce_mailbox_every.total_seconds()
        scheduler.add_job(
            bounce_mailbox_job,
            "interval",
            seconds=mailbox_every,
            next_run_time=datetime.now(UTC),
            id="bounce-mailbox",
            name="read the bounce mailbox",
            misfire_grace_time=int(max(mailbox_every / 2, 1)),
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
