"""The delivery ledger, the sending stage of the outbox: one row per (campaign, subscriber,
content), queued, claimed by a worker with a lease, and settled with the relay's reply.

Enqueueing is idempotent. Workers claim batches with a lease (PostgreSQL: ``FOR UPDATE
SKIP LOCKED``; SQLite: one conditional UPDATE, SQLite having one writer at a time); a row
becomes ``sent`` only after the server's 2xx reply, and every settle is conditional on the
worker still holding the row, so whoever lost a lease cannot overwrite the winner. A row
whose worker vanished goes back to the queue when its lease runs out; a worker renews the
leases of rows it still holds, and gives back rows it did not send.

Data functions take ``session`` keyword-only and never commit.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select, update
from sqlalchemy.orm import Session

from mailer.bounces.decide import Decision, Verdict, decide_failure
from mailer.bounces.parse import ENHANCED
from mailer.bounces.record import Entry, Limits, Recorded, record
from mailer.db import dialect_insert
from mailer.feeds.sanitise import one_line
from mailer.models import Campaign, Delivery, Subscriber
from mailer.outbox.status import (
    STOPPED_CAMPAIGN,
    SUPPRESSED,
    UNREACHABLE,
    CampaignStatus,
    DeliveryStatus,
)
from mailer.sending.base import SendResult

# Decisions that act on the reader's address.
SUPPRESSING = (Decision.HARD, Decision.SOFT)
# How many batches one claim takes at the most when every row of a batch was for a reader
# who left meanwhile (those rows are cancelled, so the next claim starts past them).
CLAIM_ROUNDS = 10


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
    insert = dialect_insert(session)
    added = 0
    for chunk in _batched(recipients, batch):
        rows = [
            {
                "campaign_id": campaign.id,
                "subscriber_id": subscriber_id,
                "content_key": content_key,
                "status": DeliveryStatus.QUEUED,
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


def requeue_expired_leases(*, now: datetime, session: Session) -> int:
    """Rows whose worker vanished (lease over) go back to the queue."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_until < now)
        .values(status=DeliveryStatus.QUEUED, lease_until=None, claimed_by="")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cancel_queued_where(which: ColumnElement[bool], reason: str, *, session: Session) -> int:
    """Cancel the queued deliveries ``which`` picks (a campaign's, a reader's), with the
    reason on each row; rows a worker holds are left to settle truthfully."""
    result = session.execute(
        update(Delivery)
        .where(which, Delivery.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.CANCELLED, last_reply=reason)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def due_conditions(now: datetime) -> list[ColumnElement[bool]]:
    """What makes a delivery due now: queued, its time come, its campaign running and not
    expired (for a query that joins Campaign on the delivery's campaign)."""
    return [
        Delivery.status == DeliveryStatus.QUEUED,
        Delivery.next_attempt_at <= now,
        Campaign.status == CampaignStatus.SENDING,
        (Campaign.expires_at.is_(None)) | (Campaign.expires_at > now),
    ]


def _due(now: datetime) -> Any:
    """Queued deliveries of running campaigns that may be sent now."""
    return (
        select(Delivery.id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(*due_conditions(now))
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
    priority than that (urgent mail for a worker busy with a batch of lower priority).

    Rows for readers who left since they were queued are cancelled, not returned; when a
    whole batch was such rows, the next batch is taken, up to CLAIM_ROUNDS batches in all,
    after which the claim returns nothing (a later claim goes on past the cancelled rows).
    """
    requeue_expired_leases(now=now, session=session)
    for _ in range(CLAIM_ROUNDS):
        picked = _take_due(
            worker=worker, limit=limit, lease=lease, now=now, above=above, session=session
        )
        if not picked:
            return []
        claimed = _drop_readers_who_left(picked, session=session)
        if claimed:
            return claimed
    return []


def _take_due(
    *,
    worker: str,
    limit: int,
    lease: timedelta,
    now: datetime,
    above: int | None,
    session: Session,
) -> list[int]:
    """Mark up to ``limit`` due rows as this worker's (status sending, leased); their ids."""
    due = _due(now) if above is None else _due(now).where(Delivery.priority > above)
    eligible = due.order_by(
        Delivery.priority.desc(), Delivery.campaign_id, Delivery.content_key
    ).limit(limit)
    mark = {
        "status": DeliveryStatus.SENDING,
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
            Delivery.id.in_(eligible.scalar_subquery()), Delivery.status == DeliveryStatus.QUEUED
        )
    return list(
        session.scalars(
            statement.values(**mark)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )


def _reader_left(subscriber_status: str, campaign_kind: str) -> bool:
    """A reader who left since the row was queued gets nothing more, except the one-reader
    mails they asked for (a confirmation to come back, their data); a bounced or
    complaining address gets nothing."""
    if subscriber_status in UNREACHABLE:
        return True
    return subscriber_status in SUPPRESSED and campaign_kind != "transactional"


def _drop_readers_who_left(ids: list[int], *, session: Session) -> list[Claimed]:
    """The claimed rows as ``Claimed``, in claim order; rows for readers who left are
    cancelled instead."""
    rows = _claimed_rows(ids, session=session)
    gone = [claimed.id for claimed, status, kind in rows if _reader_left(status, kind)]
    if gone:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(gone))
            .values(
                status=DeliveryStatus.CANCELLED,
                lease_until=None,
                last_reply="reader left or bounced",
            )
            .execution_options(synchronize_session=False)
        )
    return [claimed for claimed, status, kind in rows if not _reader_left(status, kind)]


def _claimed_rows(ids: list[int], *, session: Session) -> list[tuple[Claimed, str, str]]:
    """Each claimed row as ``Claimed``, with its reader's status and its campaign's kind,
    in claim order."""
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
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.priority.desc(), Delivery.campaign_id, Delivery.content_key, Delivery.id)
    ).all()
    return [(Claimed(*row[:9]), row[9], row[10]) for row in rows]


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter: ~1 min, 2, 4 ... capped at 1 hour."""
    base = min(60 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


_SETTLE = (
    update(Delivery.__table__)  # type: ignore[arg-type]
    .where(
        Delivery.__table__.c.id == bindparam("_id"),
        Delivery.__table__.c.claimed_by == bindparam("_worker"),
        Delivery.__table__.c.status == DeliveryStatus.SENDING,
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


# The row's status after the relay's verdict (a retry past the deadline fails instead).
_AFTER_VERDICT = {
    "sent": DeliveryStatus.SENT,
    "retry": DeliveryStatus.QUEUED,
    "failed": DeliveryStatus.FAILED,
}


def _settle_params(settled: Settled, *, worker: str, now: datetime) -> dict[str, Any]:
    """The ``_SETTLE`` parameters for one reply: sent, queued again for a retry, or failed
    (a retry that would fall after the row's deadline fails)."""
    claimed, result = settled.claimed, settled.result
    status = _AFTER_VERDICT[result.verdict]
    next_at, sent_at = now, None
    reply = f"{result.code} {result.reply}".strip()[:1000]
    if status == DeliveryStatus.SENT:
        sent_at = now
    elif status == DeliveryStatus.QUEUED:
        next_at = now + retry_delay(claimed.attempts)
        if next_at > claimed.deadline_at:
            status = DeliveryStatus.FAILED
            reply = f"gave up after {claimed.attempts} attempts: {reply}"[:1000]
    return {
        "_id": claimed.id,
        "_worker": worker,
        "_status": status,
        "_reply": reply,
        "_message_id": settled.message_id if status == DeliveryStatus.SENT else "",
        "_sent_at": sent_at,
        "_next": next_at,
    }


def _is_refusal(settled: Settled) -> bool:
    """A permanent refusal with a reply (5xx): its enhanced code decides what it means
    for the reader (``mailer.bounces.decide``)."""
    result = settled.result
    return result.verdict == "failed" and 500 <= result.code < 600


def settle(
    results: list[Settled],
    *,
    worker: str,
    now: datetime,
    hard_bounce_limit: int,
    session: Session,
    policy_pause_after: int = 0,
    clear_bounces: bool = True,
    paused: list[int] | None = None,
) -> dict[str, int]:
    """Record each reply. Returns counts by outcome (sent, retry, failed).

    Each 5xx refusal is a ``mail_reports`` row (via "smtp") decided by its enhanced code
    like a bounce that came back later: 5.1.x bounces the reader, 5.2.x counts towards
    ``hard_bounce_limit``, 5.7.x suppresses nobody and, past ``policy_pause_after``,
    pauses the campaign (its id is appended to ``paused``). ``clear_bounces``: a 250
    clears the reader's count (not when bounces come back later, through VERP: then a
    relay's 250 says nothing about the mailbox)."""
    params = [_settle_params(settled, worker=worker, now=now) for settled in results]
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for p in params:
        counts["retry" if p["_status"] == DeliveryStatus.QUEUED else p["_status"]] += 1
    # Only rows this settle really records count: a settle retried after a commit that did
    # happen, or a worker whose rows were taken over, must not count twice. So the
    # refusals are picked before the rows are settled.
    refused = [s for s in results if _is_refusal(s)]
    held = _still_held([s.claimed.id for s in refused], worker=worker, session=session)
    if params:
        session.connection().execute(_SETTLE, params)
    if clear_bounces:
        _clear_hard_bounces(
            [p["_id"] for p in params if p["_status"] == DeliveryStatus.SENT], session=session
        )
    _cancel_stopped_retries(
        [p["_id"] for p in params if p["_status"] == DeliveryStatus.QUEUED], session=session
    )
    limits = Limits(hard_bounce_limit, policy_pause_after)
    for settled in refused:
        if settled.claimed.id in held:
            done = record_refusal(settled, limits=limits, now=now, session=session)
            if paused is not None:
                paused.extend(done.paused)
    return counts


def record_refusal(
    settled: Settled, *, limits: Limits, now: datetime, session: Session
) -> Recorded:
    """A relay's 5xx for one delivery as a ``mail_reports`` row, decided and acted on. A
    refusal after RCPT (of the sender or the content) without an enhanced code never
    counts against the reader's address."""
    claimed, result = settled.claimed, settled.result
    reply = one_line(f"{result.code} {result.reply}")
    enhanced = ENHANCED.search(result.reply)
    status = enhanced.group(1) if enhanced else ""
    verdict = decide_failure(status, result.code, reply)
    if not status and not result.address_refused and verdict.decision in SUPPRESSING:
        verdict = Verdict(Decision.SOFT, reason="refused after RCPT, no enhanced code")
    entry = Entry(
        via="smtp",
        kind="bounce",
        verdict=verdict,
        status_code=status or str(result.code),
        diagnostic=reply,
        recipient=claimed.email,
        delivery_id=claimed.id,
        campaign_id=claimed.campaign_id,
        subscriber_id=claimed.subscriber_id,
        raw=reply,
        dedupe=f"smtp:{claimed.id}:{claimed.campaign_id}:{claimed.subscriber_id}",
    )
    return record(entry, limits=limits, now=now, session=session)


def _still_held(ids: list[int], *, worker: str, session: Session) -> set[int]:
    """Those of the rows that this worker still holds (sending, claimed by it)."""
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Delivery.id).where(
                Delivery.id.in_(ids),
                Delivery.claimed_by == worker,
                Delivery.status == DeliveryStatus.SENDING,
            )
        )
    )


def _clear_hard_bounces(delivered: list[int], *, session: Session) -> None:
    """A good delivery clears earlier hard failures of the address."""
    if not delivered:
        return
    session.execute(
        update(Subscriber)
        .where(
            Subscriber.id.in_(select(Delivery.subscriber_id).where(Delivery.id.in_(delivered))),
            Subscriber.hard_bounces > 0,
        )
        .values(hard_bounces=0)
        .execution_options(synchronize_session=False)
    )


def _cancel_stopped_retries(retried: list[int], *, session: Session) -> None:
    """A campaign stopped meanwhile takes no retries."""
    if not retried:
        return
    session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(retried),
            Delivery.campaign_id.in_(
                select(Campaign.id).where(Campaign.status.in_(STOPPED_CAMPAIGN))
            ),
        )
        .values(status=DeliveryStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )


def _held_by(ids: list[int], worker: str) -> Any:
    """An UPDATE of those rows that this worker still holds."""
    return update(Delivery).where(
        Delivery.id.in_(ids),
        Delivery.claimed_by == worker,
        Delivery.status == DeliveryStatus.SENDING,
    )


def _give_back(ids: list[int], *, worker: str, session: Session, **also: Any) -> int:
    """Put rows this worker still holds back in the queue unsent, the attempt not counted;
    ``also``: more columns to set."""
    if not ids:
        return 0
    result = session.execute(
        _held_by(ids, worker)
        .values(
            status=DeliveryStatus.QUEUED,
            lease_until=None,
            claimed_by="",
            attempts=Delivery.attempts - 1,
            **also,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def release(ids: list[int], *, worker: str, session: Session) -> int:
    """Give claimed rows back unsent (graceful shutdown); the attempt does not count."""
    return _give_back(ids, worker=worker, session=session)


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
    due = {} if until is None else {"next_attempt_at": until}
    return _give_back(
        ids,
        worker=worker,
        session=session,
        **due,
        last_reply=one_line(f"deferred while the relay fails: {reason}")[:1000],
    )


def renew_lease(ids: list[int], *, worker: str, until: datetime, session: Session) -> None:
    """Keep rows this worker still holds (a long batch) from going back to the queue."""
    if ids:
        session.execute(
            _held_by(ids, worker)
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )
