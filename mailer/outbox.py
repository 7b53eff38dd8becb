"""The outbox ledger: campaigns and their deliveries, one row per (campaign, subscriber).

Enqueueing is idempotent. Workers claim batches with a lease (PostgreSQL: ``FOR UPDATE
SKIP LOCKED``; SQLite: one conditional UPDATE, SQLite having one writer at a time); a row
becomes ``sent`` only after the server's 2xx reply, and every settle is conditional on the
worker still holding the row, so whoever lost a lease cannot overwrite the winner.

Data functions take ``session`` keyword-only and never commit.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailer.errors import MailerError
from mailer.feeds.sanitise import one_line
from mailer.models import Campaign, Delivery, Subscriber
from mailer.sending.base import SendResult

ACTIVE_DELIVERY = ("queued", "sending")
SUPPRESSED = {"unsubscribed", "bounced", "complained"}
# Addresses that bounced or complained get nothing at all, not even a confirmation asked
# for from the form (anyone can ask for one: mailing them hurts the sender's reputation).
UNREACHABLE = {"bounced", "complained"}
# Replies that say the address itself is bad (RFC 5321): these count towards suppression.
HARD_BOUNCE_CODES = {550, 551, 553}
PRIORITY_ALERT = 100
PRIORITY_TRANSACTIONAL = 50
PRIORITY_DIGEST = 0


class CampaignStateError(MailerError):
    """The campaign is not in a state that allows this action."""


@dataclass(frozen=True)
class Claimed:
    id: int
    campaign_id: int
    subscriber_id: int
    email: str
    content_key: str
    attempts: int
    deadline_at: datetime
    priority: int
    link_secret: str = ""  # what the reader's signed links name (mailer.tokens)


@dataclass(frozen=True)
class Settled:
    claimed: Claimed
    result: SendResult
    message_id: str


def _insert(session: Session) -> Any:
    name = session.get_bind().dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert


def get_or_create_campaign(
    *,
    kind: str,
    key: str,
    template: str,
    session: Session,
    subject: str = "",
    context: dict[str, Any] | None = None,
    priority: int = PRIORITY_DIGEST,
    expires_at: datetime | None = None,
    created_by: str = "",
) -> tuple[Campaign, bool]:
    """The campaign with this unique key, created as a draft if new; (campaign, created)."""
    existing = session.scalar(select(Campaign).where(Campaign.key == key))
    if existing is not None:
        return existing, False
    campaign = Campaign(
        kind=kind,
        key=key,
        template=template,
        subject=one_line(subject)[:500],
        context=context or {},
        status="draft",
        priority=priority,
        expires_at=expires_at,
        created_by=created_by,
    )
    session.add(campaign)
    session.flush()
    return campaign, True


def _batched(rows: Iterable[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def enqueue(
    campaign: Campaign,
    recipients: Iterable[tuple[int, str]],
    *,
    deadline_at: datetime,
    now: datetime,
    session: Session,
    batch: int = 1000,
) -> int:
    """Queue one delivery per (subscriber id, content key); existing rows are left alone.

    ``recipients`` may be a generator streaming from the database: memory stays flat.
    """
    insert = _insert(session)
    added = 0
    for chunk in _batched(recipients, batch):
        rows = [
            {
                "campaign_id": campaign.id,
                "subscriber_id": subscriber_id,
                "content_key": content_key,
                "status": "queued",
                "priority": campaign.priority,
                "attempts": 0,
                "next_attempt_at": now,
                "deadline_at": deadline_at,
                "claimed_by": "",
                "last_reply": "",
                "message_id": "",
                "created_at": now,
            }
            for subscriber_id, content_key in chunk
        ]
        statement = insert(Delivery).on_conflict_do_nothing().returning(Delivery.id)
        added += len(session.scalars(statement, rows).all())
    return added


def lock_campaign(campaign: Campaign, *, session: Session) -> None:
    """Hold the campaign row until this transaction ends, and reload it, so that a check
    of its state and the change that follows cannot interleave with another admin's.

    PostgreSQL locks the row (SELECT ... FOR UPDATE). SQLite has no row locks and ignores
    FOR UPDATE, and its driver reads outside a transaction, so a no-op UPDATE first takes
    the database's write lock: everything read after it is current until the commit.
    """
    session.flush()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(id=Campaign.id)
            .execution_options(synchronize_session=False)
        )
    session.refresh(campaign, with_for_update=True)


def start(campaign: Campaign, *, by: str, now: datetime, session: Session) -> None:
    """Approve a draft: from now on workers may claim its deliveries. A campaign made in
    this transaction needs no lock; approving one admins can see does
    (``mailer.alerts.approve`` takes it with ``lock_campaign`` before its checks)."""
    if campaign.status != "draft":
        raise CampaignStateError(f"campaign {campaign.key} is {campaign.status}, not a draft")
    if campaign.expires_at is not None and campaign.expires_at <= now:
        raise CampaignStateError(f"campaign {campaign.key} expired at {campaign.expires_at}")
    campaign.status = "sending"
    campaign.approved_at = now
    campaign.approved_by = by
    session.flush()


def pause(campaign: Campaign, *, session: Session) -> None:
    lock_campaign(campaign, session=session)
    if campaign.status != "sending":
        raise CampaignStateError(f"campaign {campaign.key} is {campaign.status}, not sending")
    campaign.status = "paused"
    session.flush()


def resume(campaign: Campaign, *, session: Session) -> None:
    lock_campaign(campaign, session=session)
    if campaign.status != "paused":
        raise CampaignStateError(f"campaign {campaign.key} is {campaign.status}, not paused")
    campaign.status = "sending"
    session.flush()


def _cancel_queued(campaign_ids: list[int], reason: str, *, session: Session) -> int:
    if not campaign_ids:
        return 0
    result = session.execute(
        update(Delivery)
        .where(Delivery.campaign_id.in_(campaign_ids), Delivery.status == "queued")
        .values(status="cancelled", last_reply=reason)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cancel(campaign: Campaign, *, now: datetime, session: Session) -> int:
    """Stop a campaign: queued rows are cancelled; rows in flight still settle truthfully."""
    lock_campaign(campaign, session=session)
    if campaign.status in {"done", "cancelled", "expired"}:
        raise CampaignStateError(f"campaign {campaign.key} is already {campaign.status}")
    campaign.status = "cancelled"
    campaign.finished_at = now
    return _cancel_queued([campaign.id], "cancelled by an admin", session=session)


def expire_campaigns(*, now: datetime, session: Session) -> dict[str, int]:
    """Campaigns past their expiry: cancel what is unsent. Returns {campaign key: cancelled}."""
    expired = list(
        session.scalars(
            select(Campaign).where(
                Campaign.expires_at <= now,
                Campaign.status.in_(("draft", "sending", "paused")),
            )
        )
    )
    report = {}
    for campaign in expired:
        campaign.status = "expired"
        campaign.finished_at = now
        report[campaign.key] = _cancel_queued(
            [campaign.id], "expired before it could be sent", session=session
        )
    return report


def requeue_expired_leases(*, now: datetime, session: Session) -> int:
    """Rows whose worker vanished (lease over) go back to the queue."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.status == "sending", Delivery.lease_until < now)
        .values(status="queued", lease_until=None, claimed_by="")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _due(now: datetime) -> Any:
    """Queued deliveries of running campaigns that may be sent now."""
    return (
        select(Delivery.id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.status == "queued",
            Delivery.next_attempt_at <= now,
            Campaign.status == "sending",
            (Campaign.expires_at.is_(None)) | (Campaign.expires_at > now),
        )
    )


def higher_priority_due(priority: int, *, now: datetime, session: Session) -> bool:
    """Whether work more urgent than ``priority`` waits (an alert while a digest is being
    sent): one indexed look-up, cheap enough to ask every few hundred milliseconds."""
    found = session.scalar(_due(now).where(Delivery.priority > priority).limit(1))
    return found is not None


def claim(
    *,
    worker: str,
    limit: int,
    lease: timedelta,
    now: datetime,
    session: Session,
    above: int | None = None,
) -> list[Claimed]:
    """Take up to ``limit`` due deliveries of running campaigns: highest priority first,
    then one campaign's rows grouped by content key, so a batch needs few renders (the
    order of ``ix_deliveries_claim_order``). With ``above``, only rows of a higher
    priority than that (urgent mail for a worker busy with a batch of lower priority)."""
    requeue_expired_leases(now=now, session=session)
    due = _due(now) if above is None else _due(now).where(Delivery.priority > above)
    eligible = due.order_by(
        Delivery.priority.desc(), Delivery.campaign_id, Delivery.content_key
    ).limit(limit)
    mark = {
        "status": "sending",
        "lease_until": now + lease,
        "claimed_by": worker,
        "attempts": Delivery.attempts + 1,
    }
    if session.get_bind().dialect.name == "postgresql":
        # A materialised CTE runs the LIMIT ... SKIP LOCKED pick exactly once; as an
        # IN (subquery) PostgreSQL may run it again and take more rows than the limit.
        picked = (
            eligible.with_for_update(skip_locked=True, of=Delivery)
            .cte("picked")
            .prefix_with("MATERIALIZED")
        )
        statement = update(Delivery).where(Delivery.id == picked.c.id)
    else:
        statement = update(Delivery).where(
            Delivery.id.in_(eligible.scalar_subquery()), Delivery.status == "queued"
        )
    claimed_ids = list(
        session.scalars(
            statement.values(**mark)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed_ids:
        return []
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.campaign_id,
            Delivery.subscriber_id,
            Subscriber.email,
            Delivery.content_key,
            Delivery.attempts,
            Delivery.deadline_at,
            Delivery.priority,
            Subscriber.link_secret,
            Subscriber.status,
            Campaign.kind,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.id.in_(claimed_ids))
        .order_by(Delivery.priority.desc(), Delivery.campaign_id, Delivery.content_key, Delivery.id)
    ).all()
    # A reader who left since the row was queued gets nothing more, except the one-reader
    # mails they asked for (a confirmation to come back, their data); a bounced or
    # complaining address gets nothing.
    left = [
        row[9] in UNREACHABLE or (row[9] in SUPPRESSED and row[10] != "transactional")
        for row in rows
    ]
    gone = [row[0] for row, out in zip(rows, left, strict=True) if out]
    if gone:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(gone))
            .values(status="cancelled", lease_until=None, last_reply="reader left or bounced")
            .execution_options(synchronize_session=False)
        )
    claimed = [Claimed(*row[:9]) for row, out in zip(rows, left, strict=True) if not out]
    if not claimed:  # the whole batch was for readers who left: look further
        return claim(worker=worker, limit=limit, lease=lease, now=now, session=session, above=above)
    return claimed


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter: ~1 min, 2, 4 ... capped at 1 hour."""
    base = min(60 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


_SETTLE = (
    update(Delivery.__table__)  # type: ignore[arg-type]
    .where(
        Delivery.__table__.c.id == bindparam("_id"),
        Delivery.__table__.c.claimed_by == bindparam("_worker"),
        Delivery.__table__.c.status == "sending",
    )
    .values(
        status=bindparam("_status"),
        last_reply=bindparam("_reply"),
        message_id=bindparam("_message_id"),
        sent_at=bindparam("_sent_at"),
        next_attempt_at=bindparam("_next"),
        lease_until=None,
    )
)


def settle(
    results: list[Settled],
    *,
    worker: str,
    now: datetime,
    hard_bounce_limit: int,
    session: Session,
) -> dict[str, int]:
    """Record each reply. Returns counts by outcome (sent, retry, failed)."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    params = []
    bounced: list[int] = []
    for settled in results:
        claimed, result = settled.claimed, settled.result
        status: str = result.verdict
        next_at, sent_at = now, None
        reply = f"{result.code} {result.reply}".strip()[:1000]
        if status == "sent":
            sent_at = now
        elif status == "retry":
            next_at = now + retry_delay(claimed.attempts)
            if next_at > claimed.deadline_at:
                status = "failed"
                reply = f"gave up after {claimed.attempts} attempts: {reply}"[:1000]
            else:
                status = "queued"
        elif result.address_refused and result.code in HARD_BOUNCE_CODES:
            bounced.append(claimed.id)
        counts["retry" if status == "queued" else status] += 1
        params.append(
            {
                "_id": claimed.id,
                "_worker": worker,
                "_status": status,
                "_reply": reply,
                "_message_id": settled.message_id if status == "sent" else "",
                "_sent_at": sent_at,
                "_next": next_at,
            }
        )
    if bounced:
        # Only rows this settle really records count: a settle retried after a commit
        # that did happen, or a worker whose rows were taken over, must not count twice.
        bounced = list(
            session.scalars(
                select(Delivery.subscriber_id).where(
                    Delivery.id.in_(bounced),
                    Delivery.claimed_by == worker,
                    Delivery.status == "sending",
                )
            )
        )
    if params:
        session.connection().execute(_SETTLE, params)
    delivered = [p["_id"] for p in params if p["_status"] == "sent"]
    retried = [p["_id"] for p in params if p["_status"] == "queued"]
    if delivered:  # a good delivery clears earlier hard failures of the address
        session.execute(
            update(Subscriber)
            .where(
                Subscriber.id.in_(select(Delivery.subscriber_id).where(Delivery.id.in_(delivered))),
                Subscriber.hard_bounces > 0,
            )
            .values(hard_bounces=0)
            .execution_options(synchronize_session=False)
        )
    if retried:  # a campaign stopped meanwhile takes no retries
        session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(retried),
                Delivery.campaign_id.in_(
                    select(Campaign.id).where(Campaign.status.in_(("cancelled", "expired")))
                ),
            )
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )
    if bounced:
        session.execute(
            update(Subscriber)
            .where(Subscriber.id.in_(bounced))
            .values(hard_bounces=Subscriber.hard_bounces + 1)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Subscriber)
            .where(Subscriber.id.in_(bounced), Subscriber.hard_bounces >= hard_bounce_limit)
            .values(status="bounced")
            .execution_options(synchronize_session=False)
        )
    return counts


def release(ids: list[int], *, worker: str, session: Session) -> int:
    """Give claimed rows back unsent (graceful shutdown); the attempt does not count."""
    if not ids:
        return 0
    result = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.claimed_by == worker, Delivery.status == "sending")
        .values(status="queued", lease_until=None, claimed_by="", attempts=Delivery.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def defer(
    ids: list[int],
    *,
    reason: str,
    worker: str,
    session: Session,
    until: datetime | None = None,
) -> int:
    """Give back rows the relay's circuit breaker held back: queued again and due as they
    were (or from ``until``: a failed probe's row, so the next probe tries another), the
    attempt not counted (no backoff of their own), with the reason on the row."""
    if not ids:
        return 0
    due = {} if until is None else {"next_attempt_at": until}
    result = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.claimed_by == worker, Delivery.status == "sending")
        .values(
            **due,
            status="queued",
            lease_until=None,
            claimed_by="",
            attempts=Delivery.attempts - 1,
            last_reply=one_line(f"deferred while the relay fails: {reason}")[:1000],
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def renew_held(*, worker: str, until: datetime, session: Session) -> int:
    """The worker's heartbeat: every row it holds keeps its lease until ``until``."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.status == "sending", Delivery.claimed_by == worker)
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def retrying_now(*, now: datetime, session: Session) -> int:
    """Rows waiting for a retry at this moment: queued, tried before, due later."""
    return int(
        session.scalar(
            select(func.count()).where(
                Delivery.status == "queued",
                Delivery.attempts > 0,
                Delivery.next_attempt_at > now,
            )
        )
        or 0
    )


def renew_lease(ids: list[int], *, worker: str, until: datetime, session: Session) -> None:
    """Keep rows this worker still holds (a long batch) from going back to the queue."""
    if ids:
        session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(ids), Delivery.claimed_by == worker, Delivery.status == "sending"
            )
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )


def finish_campaigns(campaign_ids: Iterable[int], *, now: datetime, session: Session) -> int:
    """Mark running campaigns with nothing queued or in flight as done."""
    ids = list(set(campaign_ids))
    if not ids:
        return 0
    pending = exists().where(
        and_(Delivery.campaign_id == Campaign.id, Delivery.status.in_(ACTIVE_DELIVERY))
    )
    result = session.execute(
        update(Campaign)
        .where(Campaign.id.in_(ids), Campaign.status == "sending", ~pending)
        .values(status="done", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def delivery_counts(campaign_id: int, *, session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    counts = {status: 0 for status in ("queued", "sending", "sent", "failed", "cancelled")}
    counts.update({status: int(n) for status, n in rows})
    return counts


def queue_depth(*, session: Session) -> int:
    return int(
        session.scalar(select(func.count()).where(Delivery.status.in_(ACTIVE_DELIVERY))) or 0
    )


def queue_transactional(
    template: str,
    subscriber: Subscriber,
    *,
    subject: str,
    now: datetime,
    retry_for: timedelta,
    session: Session,
    context: dict[str, Any] | None = None,
) -> Campaign:
    """One email to one reader (confirmation, "manage your subscription"), through the same
    ledger and worker as bulk mail, ahead of digest traffic."""
    campaign, _ = get_or_create_campaign(
        kind="transactional",
        key=f"{template}:{subscriber.id}:{secrets.token_hex(8)}",
        template=template,
        subject=subject,
        context=context or {},
        priority=PRIORITY_TRANSACTIONAL,
        created_by="system",
        session=session,
    )
    start(campaign, by="system", now=now, session=session)
    enqueue(campaign, [(subscriber.id, "")], deadline_at=now + retry_for, now=now, session=session)
    return campaign
