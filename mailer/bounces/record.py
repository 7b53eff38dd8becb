"""Recording what came back, in ``mail_reports``, and what it does to the address and
the campaign: a report is stored once (its ``dedupe_key``), then

- ``hard``: the reader's address is bounced (an active or pending reader only: an opt-out
  stays an opt-out), and gets nothing more;
- a counted ``soft`` failure adds one to the reader's ``hard_bounces``; at
  R2P_HARD_BOUNCE_LIMIT the reader is bounced and the report says ``hard``;
- ``policy``: once R2P_POLICY_PAUSE_AFTER of a campaign's messages were refused for
  policy, the campaign pauses itself (audited); the caller emails the admins.

Complaints are stored here and acted on by the readers' layer (``subscribers.reports``),
which owns consent. Data functions take the session and never commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailer.admins import audit
from mailer.bounces.decide import Decision, Verdict
from mailer.config import Settings
from mailer.db import dialect_insert
from mailer.feeds.sanitise import one_line
from mailer.models import AuditEntry, Campaign, MailReport, Subscriber
from mailer.outbox.status import CampaignStatus, SubscriberStatus

RAW_MAX = 64_000  # characters of a report kept for an admin to read
SYSTEM_ACTOR = "system:bounces"  # who the audit log says paused a campaign
RESUMED = "campaign.resume"  # the audit action of staff resuming a campaign
# Readers whose address may be marked bounced: an opt-out or a complaint stays as it is.
BOUNCEABLE = (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)


@dataclass(frozen=True)
class Limits:
    hard_bounce_limit: int
    policy_pause_after: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.hard_bounce_limit, settings.policy_pause_after)


@dataclass(frozen=True)
class Entry:
    """One report about one recipient, ready to store."""

    via: str
    kind: str
    verdict: Verdict
    status_code: str = ""
    diagnostic: str = ""
    recipient: str = ""
    delivery_id: int | None = None
    campaign_id: int | None = None
    subscriber_id: int | None = None
    raw: str = ""
    dedupe: str = ""  # what makes it the same report (hashed into ``dedupe_key``)


@dataclass
class Recorded:
    """What storing an entry did (nothing at all for a report stored before)."""

    report_id: int | None = None
    decision: Decision = Decision.UNKNOWN
    suppressed: bool = False
    paused: list[int] = field(default_factory=list)

    @property
    def duplicate(self) -> bool:
        return self.report_id is None


def dedupe_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def cap_raw(text: str) -> str:
    """The report as kept: NUL characters (which PostgreSQL's text refuses) replaced, and
    cut at RAW_MAX characters."""
    text = text.replace("\x00", "\ufffd")
    if len(text) <= RAW_MAX:
        return text
    return text[:RAW_MAX] + f"\n[... {len(text) - RAW_MAX} more characters not kept]"


def record(entry: Entry, *, limits: Limits, now: datetime, session: Session) -> Recorded:
    """Store the entry (once) and act on its verdict."""
    insert = dialect_insert(session)
    values = {
        "received_at": now,
        "via": entry.via[:32],
        "kind": entry.kind[:16],
        "decision": entry.verdict.decision.value,
        "status_code": entry.status_code[:16],
        "diagnostic": one_line(entry.diagnostic)[:1000],
        "recipient": one_line(entry.recipient)[:320],
        "delivery_id": entry.delivery_id,
        "campaign_id": entry.campaign_id,
        "subscriber_id": entry.subscriber_id,
        "raw": cap_raw(entry.raw),
        "dedupe_key": dedupe_key(entry.dedupe) if entry.dedupe else None,
    }
    report_id = session.scalar(
        insert(MailReport).values(**values).on_conflict_do_nothing().returning(MailReport.id)
    )
    if report_id is None:
        return Recorded()
    done = Recorded(report_id, entry.verdict.decision)
    if entry.subscriber_id is not None and entry.verdict.decision == Decision.HARD:
        done.suppressed = _bounce(entry.subscriber_id, session=session)
    elif entry.subscriber_id is not None and entry.verdict.counted:
        if _count(entry.subscriber_id, limits.hard_bounce_limit, session=session):
            done.decision = Decision.HARD
            done.suppressed = True
            session.execute(
                update(MailReport)
                .where(MailReport.id == report_id)
                .values(decision=Decision.HARD.value)
                .execution_options(synchronize_session=False)
            )
    elif (
        entry.campaign_id is not None
        and entry.verdict.decision == Decision.POLICY
        and _pause_if_refused(entry.campaign_id, limits, now=now, session=session)
    ):
        done.paused.append(entry.campaign_id)
    return done


def _bounce(subscriber_id: int, *, session: Session) -> bool:
    """Mark the address bounced (counting this failure too); True if it was reachable."""
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(hard_bounces=Subscriber.hard_bounces + 1)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, Subscriber.status.in_(BOUNCEABLE))
        .values(status=SubscriberStatus.BOUNCED)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _count(subscriber_id: int, limit: int, *, session: Session) -> bool:
    """One more counted failure; True if that makes the address bounced."""
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(hard_bounces=Subscriber.hard_bounces + 1)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == subscriber_id,
            Subscriber.hard_bounces >= limit,
            Subscriber.status.in_(BOUNCEABLE),
        )
        .values(status=SubscriberStatus.BOUNCED)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def policy_refusals(campaign_id: int, *, session: Session) -> int:
    """The campaign's policy refusals since staff last resumed it (``campaign.resume`` in
    the audit log), so a resumed campaign does not pause again at its next refusal."""
    resumed = session.scalar(
        select(func.max(AuditEntry.at)).where(
            AuditEntry.action == RESUMED, AuditEntry.target == f"campaign:{campaign_id}"
        )
    )
    query = (
        select(func.count())
        .select_from(MailReport)
        .where(MailReport.campaign_id == campaign_id, MailReport.decision == Decision.POLICY.value)
    )
    if resumed is not None:
        query = query.where(MailReport.received_at > resumed)
    return int(session.scalar(query) or 0)


def _pause_if_refused(campaign_id: int, limits: Limits, *, now: datetime, session: Session) -> bool:
    """Pause a sending campaign whose policy refusals reached the limit (as listmonk's
    MaxSendErrors); True if it paused now."""
    if limits.policy_pause_after <= 0:
        return False
    refusals = policy_refusals(campaign_id, session=session)
    if refusals < limits.policy_pause_after:
        return False
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
        .values(status=CampaignStatus.PAUSED)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    audit(
        SYSTEM_ACTOR,
        "campaign.pause",
        target=f"campaign:{campaign_id}",
        now=now,
        session=session,
        reason="policy refusals",
        refusals=refusals,
        limit=limits.policy_pause_after,
    )
    return True


def pause_notice(settings: Settings, campaign: Campaign, refusals: int) -> tuple[str, str]:
    """(subject, text) telling the admins a campaign paused itself."""
    return (
        f"Campaign paused: {one_line(campaign.subject)[:150] or campaign.key}",
        f"The {campaign.kind} campaign {campaign.key} paused itself: {refusals} of its "
        f"messages were refused for policy (5.7.x: a block, a blocklisting or failed "
        f"authentication of our server, not a problem of the readers' addresses).\n\n"
        f"Nobody was suppressed. Check the refusals on the campaign's readers' pages and "
        f"the sending domain's SPF, DKIM and DMARC records and blocklist status, then "
        f"resume the campaign on the campaigns page or with `r2p-mailer campaign resume "
        f"{campaign.id}`.\n\n{settings.base_url}/admin/campaigns\n",
    )
