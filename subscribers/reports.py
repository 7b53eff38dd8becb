"""Taking in what mailbox providers send back (a bounce, a complaint, an auto-reply, or
something nobody can read), whichever way it arrived (``r2p-mailer inbound``, or a relay's webhook):
parse it, find the delivery it is about from its VERP address or signed Message-ID,
decide, record it in ``mail_reports`` and act on the reader.

A report that names no genuine delivery (a forged or unknown token, or none) changes no
reader: it is kept as ``ignored``; a reader is never found by the address a report
quotes, which anyone could forge. A complaint unsubscribes the reader at once (status
``complained``, consent withdrawn) and is audited. Everything is kept, the unreadable
too, with the raw report (capped) for an admin. Data functions never commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from mailer.admins import audit
from mailer.bounces.decide import Decision, Verdict, decide
from mailer.bounces.parse import Recipient, Report, parse
from mailer.bounces.record import SYSTEM_ACTOR, Entry, Limits, Recorded, record
from mailer.bounces.verp import delivery_named
from mailer.config import Settings
from mailer.models import Subscriber
from subscribers.preferences import complain

NO_DELIVERY = "names no delivery of ours (a forged, unknown or missing token): ignored"


@dataclass
class Taken:
    """What one incoming message did."""

    report: Report
    delivery_id: int | None = None
    subscriber_id: int | None = None
    recorded: list[Recorded] = field(default_factory=list)
    complained: bool = False

    @property
    def paused(self) -> list[int]:
        return [c for r in self.recorded for c in r.paused]

    @property
    def decisions(self) -> list[str]:
        return [str(r.decision) for r in self.recorded if not r.duplicate]


def take_report(
    data: bytes,
    *,
    via: str,
    envelope_to: list[str],
    settings: Settings,
    now: datetime,
    session: Session,
) -> Taken:
    """Parse, match, decide, record and act on one incoming message (``data``, as
    received; ``envelope_to``: the addresses it was delivered to)."""
    report = parse(data)
    return take_parsed(
        report,
        raw=data.decode("utf-8", errors="replace"),
        identity=report.report_id or hashlib.sha256(data).hexdigest(),
        via=via,
        envelope_to=envelope_to,
        settings=settings,
        now=now,
        session=session,
    )


def take_parsed(
    report: Report,
    *,
    raw: str,
    identity: str,
    via: str,
    envelope_to: list[str],
    settings: Settings,
    now: datetime,
    session: Session,
) -> Taken:
    """Match, decide, record and act on a report already read (a message parsed, or a
    relay's webhook event: ``mailer.bounces.relays``); ``identity`` names it so that a
    report taken again (a retried webhook) is recorded once."""
    delivery = None
    if report.kind in ("bounce", "delay", "complaint"):
        delivery = delivery_named(
            [*envelope_to, *report.senders],
            report.message_id,
            settings=settings,
            session=session,
        )
    taken = Taken(report)
    if delivery is not None:
        taken.delivery_id, taken.subscriber_id = delivery.id, delivery.subscriber_id
    limits = Limits.of(settings)
    for recipient in report.recipients or (Recipient(address=""),):
        verdict = decide(report.kind, recipient.status, recipient.smtp_code, recipient.diagnostic)
        if delivery is None and verdict.decision not in (Decision.IGNORED, Decision.UNKNOWN):
            verdict = Verdict(Decision.IGNORED, reason=NO_DELIVERY)
        status = recipient.status or (str(recipient.smtp_code) if recipient.smtp_code else "")
        diagnostic = recipient.diagnostic or report.reason or verdict.reason
        entry = Entry(
            via=via,
            kind=report.kind,
            verdict=verdict,
            status_code=status,
            diagnostic=diagnostic,
            recipient=recipient.address,
            delivery_id=delivery.id if delivery else None,
            campaign_id=delivery.campaign_id if delivery else None,
            subscriber_id=delivery.subscriber_id if delivery else None,
            raw=raw,
            dedupe=(
                f"report:{identity}:{taken.delivery_id or ''}:"
                f"{recipient.address.lower()}:{recipient.status}"
            ),
        )
        done = record(entry, limits=limits, now=now, session=session)
        taken.recorded.append(done)
        if done.duplicate or verdict.decision != Decision.COMPLAINT or delivery is None:
            continue
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        if subscriber is not None and complain(
            subscriber, now=now, session=session, how=f"complaint-{via}"[:64]
        ):
            taken.complained = True
            audit(
                SYSTEM_ACTOR,
                "subscriber.complaint",
                target=f"subscriber:{subscriber.id}",
                now=now,
                session=session,
                via=via,
                report=done.report_id,
                feedback_type=report.feedback_type,
                campaign=delivery.campaign_id,
            )
    return taken
