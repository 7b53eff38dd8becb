"""Campaign reports: what happened to an alert or digest issue after it was approved, for
the console's report pages and dashboard, their CSV downloads and ``r2p-mailer reports``.

Per campaign, counted in SQL (a campaign has tens of thousands of deliveries; no row is
loaded one by one):

- ``queued``: every message the campaign queued; ``waiting``: not settled yet;
- ``sent`` (accepted by the relay), ``failed`` (refused, or given up after retries),
  ``cancelled`` (never sent: the campaign was cancelled or the reader left first);
- ``retried``: messages that needed more than one attempt, whatever became of them;
- ``bounced`` and ``complaints``: messages with a bounce or a complaint report in
  ``mail_reports`` (a message reported twice counts once); ``hard_bounced`` of those with
  a hard-bounce decision, ``bounced_after_sent`` those the relay had accepted, so
  ``delivered`` is ``sent`` less those;
- ``unsubscribes``: readers whose copy was sent and whose consent history records an
  unsubscribe (``withdrawn``, by the reader or by staff at their request) after it was
  sent and within ``UNSUBSCRIBE_WINDOW`` of the campaign starting to send.

The timeline puts sent, failed, bounced, complaints and unsubscribes in slots of an hour
(or six hours, once the campaign is more than two days old) from the moment it started
sending to ``UNSUBSCRIBE_WINDOW`` later; what arrives after that is in the counts only.
An erased reader's deliveries and consent history go with them, so their mail leaves the
counts (as on the subscribers page's growth chart).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, and_, cast, extract, func, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from mailer.models import Campaign, ConsentEvent, Delivery, MailReport
from mailer.outbox.status import ACTIVE_DELIVERY, DeliveryStatus
from subscribers.consent import WITHDRAWN

REPORTED_KINDS = ("alert", "digest")
UNSUBSCRIBE_WINDOW = timedelta(days=7)
# mail_reports.kind and .decision values counted here (see mailer.models.MailReport).
BOUNCE = "bounce"
COMPLAINT = "complaint"
HARD = "hard"
BATCH = 100  # campaigns counted per query (each adds a condition to the unsubscribes query)
# The timeline's slots: hourly while the campaign is young, then six hours.
HOURLY_FOR = timedelta(days=2)
SERIES = ("sent", "failed", "bounced", "complaints", "unsubscribes")
LABELS = {
    "sent": "Sent",
    "failed": "Failed",
    "bounced": "Bounced",
    "complaints": "Complaints",
    "unsubscribes": "Unsubscribes",
}


@dataclass(frozen=True)
class Figures:
    """One campaign's counts (see the module's docstring for what each means)."""

    queued: int = 0
    waiting: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    bounced: int = 0
    hard_bounced: int = 0
    bounced_after_sent: int = 0
    complaints: int = 0
    unsubscribes: int = 0

    @property
    def delivered(self) -> int:
        """Sent and not bounced later."""
        return max(0, self.sent - self.bounced_after_sent)

    def per_sent(self, count: int) -> float | None:
        """``count`` as a share of the messages sent (None before any was sent)."""
        return count / self.sent if self.sent else None


# The figures a report shows and exports, in order (``delivered`` is worked out).
FIGURES: tuple[str, ...] = ("queued", "sent", "delivered", "retried", "failed", "cancelled")
FIGURES += ("waiting", "bounced", "hard_bounced", "complaints", "unsubscribes")


@dataclass(frozen=True)
class CampaignReport:
    id: int
    kind: str
    key: str
    subject: str
    status: str
    period: str  # a digest's ISO week ("2026-W49"); empty for an alert
    started_at: datetime  # when it was approved and began to send
    finished_at: datetime | None
    figures: Figures

    @property
    def name(self) -> str:
        """A short name for lists and column heads."""
        return f"Issue {self.period}" if self.period else self.subject

    @property
    def window_end(self) -> datetime:
        return self.started_at + UNSUBSCRIBE_WINDOW

    def record(self) -> dict[str, Any]:
        """The report as one flat record (CSV, JSON, the CLI's table)."""
        figures = self.figures
        return {
            "campaign_id": self.id,
            "kind": self.kind,
            "key": self.key,
            "subject": self.subject,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            **{name: getattr(figures, name) for name in FIGURES},
        }


RECORD_KEYS: tuple[str, ...] = ("campaign_id", "kind", "key", "subject", "status")
RECORD_KEYS += ("started_at", "finished_at", *FIGURES)


def started_at(campaign: Campaign) -> datetime:
    """When the campaign began to send: its approval (which every reported campaign has;
    its creation otherwise)."""
    return campaign.approved_at or campaign.created_at


def _started(query: Select[Any]) -> Select[Any]:
    """Campaigns that were approved (a draft or an alert cancelled unapproved sent nothing)."""
    return query.where(Campaign.approved_at.is_not(None))


def recent_reports(
    *, session: Session, limit: int | None = 50, kinds: Sequence[str] = REPORTED_KINDS
) -> list[CampaignReport]:
    """The newest campaigns of ``kinds`` that began to send, newest first, with figures
    (every one of them when ``limit`` is None)."""
    campaigns = list(
        session.scalars(
            _started(select(Campaign))
            .where(Campaign.kind.in_(kinds))
            .order_by(Campaign.approved_at.desc(), Campaign.id.desc())
            .limit(limit)
        )
    )
    return reports_of(campaigns, session=session)


def campaign_report(campaign_id: int, *, session: Session) -> CampaignReport | None:
    """One alert or digest issue that began to send, or None."""
    campaign = session.scalar(
        _started(select(Campaign)).where(
            Campaign.id == campaign_id, Campaign.kind.in_(REPORTED_KINDS)
        )
    )
    if campaign is None:
        return None
    return reports_of([campaign], session=session)[0]


def reports_of(campaigns: Sequence[Campaign], *, session: Session) -> list[CampaignReport]:
    """``campaigns`` with their figures: three aggregate queries per ``BATCH`` campaigns."""
    figures: dict[int, Figures] = {}
    for first in range(0, len(campaigns), BATCH):
        batch = campaigns[first : first + BATCH]
        figures |= figures_of({c.id: started_at(c) for c in batch}, session=session)
    return [
        CampaignReport(
            id=c.id,
            kind=c.kind,
            key=c.key,
            subject=c.subject,
            status=c.status,
            period=str(c.context.get("period", "")) if c.kind == "digest" else "",
            started_at=started_at(c),
            finished_at=c.finished_at,
            figures=figures[c.id],
        )
        for c in campaigns
    ]


def figures_of(started: dict[int, datetime], *, session: Session) -> dict[int, Figures]:
    """The figures of each campaign id, given when each began to send."""
    found: dict[int, dict[str, int]] = {campaign_id: {} for campaign_id in started}
    if not started:
        return {}
    ids = list(started)
    for campaign_id, *counts in session.execute(
        select(
            Delivery.campaign_id,
            func.count(),
            func.count().filter(Delivery.status.in_(ACTIVE_DELIVERY)),
            func.count().filter(Delivery.status == DeliveryStatus.SENT),
            func.count().filter(Delivery.attempts > 1),
            func.count().filter(Delivery.status == DeliveryStatus.FAILED),
            func.count().filter(Delivery.status == DeliveryStatus.CANCELLED),
        )
        .where(Delivery.campaign_id.in_(ids))
        .group_by(Delivery.campaign_id)
    ):
        names = ("queued", "waiting", "sent", "retried", "failed", "cancelled")
        found[campaign_id].update(zip(names, (int(n or 0) for n in counts), strict=True))
    message = _message()
    for reported_id, kind, total, hard, after_sent in session.execute(
        select(
            MailReport.campaign_id,
            MailReport.kind,
            func.count(message.distinct()),
            func.count(message.distinct()).filter(MailReport.decision == HARD),
            func.count(MailReport.delivery_id.distinct()).filter(
                Delivery.status == DeliveryStatus.SENT
            ),
        )
        .outerjoin(Delivery, Delivery.id == MailReport.delivery_id)
        .where(MailReport.campaign_id.in_(ids), MailReport.kind.in_((BOUNCE, COMPLAINT)))
        .group_by(MailReport.campaign_id, MailReport.kind)
    ):
        counted = found[reported_id or 0]
        if kind == BOUNCE:
            counted.update(
                bounced=int(total), hard_bounced=int(hard or 0), bounced_after_sent=int(after_sent)
            )
        else:
            counted["complaints"] = int(total)
    for campaign_id, readers in session.execute(
        select(Delivery.campaign_id, func.count(Delivery.subscriber_id.distinct()))
        .join(ConsentEvent, ConsentEvent.subscriber_id == Delivery.subscriber_id)
        .where(Delivery.campaign_id.in_(ids), _unsubscribed_after(started))
        .group_by(Delivery.campaign_id)
    ):
        found[campaign_id]["unsubscribes"] = int(readers)
    return {campaign_id: Figures(**counts) for campaign_id, counts in found.items()}


def _message() -> ColumnElement[int]:
    """The message a report is about: its delivery; a report matched to no delivery (the
    reader was erased since) counts on its own."""
    return func.coalesce(MailReport.delivery_id, -MailReport.id)


def _unsubscribed_after(started: dict[int, datetime]) -> ColumnElement[bool]:
    """For a Delivery joined to the reader's ConsentEvent: the reader's copy was sent, and
    they unsubscribed after it and within the window of its campaign."""
    return and_(
        Delivery.status == DeliveryStatus.SENT,
        ConsentEvent.event == WITHDRAWN,
        ConsentEvent.at >= Delivery.sent_at,
        or_(
            *(
                and_(Delivery.campaign_id == campaign_id, ConsentEvent.at < at + UNSUBSCRIBE_WINDOW)
                for campaign_id, at in started.items()
            )
        ),
    )


# The timeline


@dataclass(frozen=True)
class Slot:
    start: datetime
    counts: dict[str, int]


@dataclass(frozen=True)
class Timeline:
    start: datetime
    step: timedelta
    slots: list[Slot] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + self.step * len(self.slots)

    def totals(self) -> dict[str, int]:
        return {name: sum(slot.counts[name] for slot in self.slots) for name in SERIES}

    def records(self) -> Iterable[dict[str, Any]]:
        """One flat record per slot (CSV, JSON, the CLI's table)."""
        for slot in self.slots:
            yield {"start": slot.start, "end": slot.start + self.step, **slot.counts}


TIMELINE_KEYS = ("start", "end", *SERIES)


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def timeline(report: CampaignReport, *, now: datetime, session: Session) -> Timeline:
    """The campaign's events per slot, from the hour it began to send until now or the
    end of the unsubscribe window, whichever comes first."""
    start = _hour(report.started_at)
    until = min(now, report.window_end)
    step = timedelta(hours=1) if until - start <= HOURLY_FOR else timedelta(hours=6)
    count = max(1, -(-(until - start) // step))  # whole slots, rounding up
    slotter = _Slotter(start, step, min(start + step * count, report.window_end))
    dialect = session.get_bind().dialect.name
    tally: dict[str, dict[int, int]] = {name: {} for name in SERIES}
    for name, query in _event_times(report).items():
        for index, n in session.execute(slotter.count(query, dialect)):
            tally[name][int(index)] = tally[name].get(int(index), 0) + int(n)
    return Timeline(
        start,
        step,
        [
            Slot(start + step * i, {name: tally[name].get(i, 0) for name in SERIES})
            for i in range(count)
        ],
    )


def _event_times(report: CampaignReport) -> dict[str, Select[Any]]:
    """For each series, a query of one column ``at``: when each counted event happened."""
    campaign_id = report.id

    def settled(status: DeliveryStatus, column: Any) -> Select[Any]:
        return select(column.label("at")).where(
            Delivery.campaign_id == campaign_id, Delivery.status == status
        )

    def reported(kind: str) -> Select[Any]:
        message = _message()
        return (
            select(func.min(MailReport.received_at).label("at"))
            .where(MailReport.campaign_id == campaign_id, MailReport.kind == kind)
            .group_by(message)
        )

    return {
        "sent": settled(DeliveryStatus.SENT, Delivery.sent_at),
        # A failed row's next_attempt_at is when it failed (ledger._settle_params).
        "failed": settled(DeliveryStatus.FAILED, Delivery.next_attempt_at),
        "bounced": reported(BOUNCE),
        "complaints": reported(COMPLAINT),
        "unsubscribes": (
            select(func.min(ConsentEvent.at).label("at"))
            .join(Delivery, Delivery.subscriber_id == ConsentEvent.subscriber_id)
            .where(_unsubscribed_after({campaign_id: report.started_at}))
            .group_by(Delivery.subscriber_id)
        ),
    }


@dataclass(frozen=True)
class _Slotter:
    """Counts a query's ``at`` column per slot in SQL: (slot index, count) rows, for the
    events from ``start`` to ``end``."""

    start: datetime
    step: timedelta
    end: datetime

    def count(self, query: Select[Any], dialect: str) -> Select[Any]:
        at = query.subquery().c.at
        # Whole numbers written into the SQL: PostgreSQL groups by an expression only if
        # the select list repeats it exactly, bound parameters included.
        origin = literal_column(str(int(self.start.timestamp())), Integer)
        step = literal_column(str(int(self.step.total_seconds())), Integer)
        index: ColumnElement[Any]
        if dialect == "postgresql":
            index = cast(func.floor((extract("epoch", at) - origin) / step), Integer)
        else:  # SQLite keeps UTC as text; integer division floors what is not negative
            index = (cast(func.strftime("%s", at), Integer) - origin) // step
        slot = index.label("slot")
        return select(slot, func.count()).where(at >= self.start, at < self.end).group_by(slot)
