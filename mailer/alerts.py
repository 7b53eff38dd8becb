"""Urgent alerts: compose (or start from an item), edit a draft (a content change clears
the approvals), schedule a send time, approve (optionally by two admins), send what is
due, cancel, report. Nothing is sent without a human approval, nothing before its send
time, and nothing after the expiry.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, object_session

from mailer.alert_versions import ORIGINAL, translations_of
from mailer.audience import matching_readers
from mailer.config import Settings
from mailer.content import render_contents
from mailer.db import get_by_id
from mailer.email.compose import test_copy
from mailer.errors import MailerError
from mailer.feeds.sanitise import one_line, strip_control
from mailer.models import Admin, Approval, Campaign, Item, Source
from mailer.outbox.campaigns import CampaignStateError, get_or_create_campaign, lock_campaign, start
from mailer.outbox.ledger import enqueue
from mailer.outbox.queries import delivery_counts
from mailer.outbox.status import CampaignStatus, Priority

SUBJECT_MAX = 200
BODY_MAX = 5000
AUDIENCES = ("all", "topics")
_URGENT = re.compile(
    r"atrocity alert|genocide|imminent risk|special adviser|ethnic cleansing|mass atrocit",
    re.IGNORECASE,
)


class AlertError(MailerError):
    """The alert cannot be created or approved as asked; the message says why."""


@dataclass(frozen=True)
class Draft:
    subject: str
    body: str
    link: str = ""
    audience: str = "all"
    topics: tuple[str, ...] = ()
    item_id: int | None = None


@dataclass(frozen=True)
class ApprovalResult:
    approved: bool  # enough approvals: queued now, or scheduled for ``send_at``
    approvals: int
    needed: int
    queued: int
    send_at: datetime | None = None  # set when the approved alert waits for its send time


@dataclass(frozen=True)
class Schedule:
    """A change of the send time: ``at`` a moment in the future, or None to send as soon
    as the alert is approved."""

    at: datetime | None


@dataclass(frozen=True)
class EditResult:
    """What an edit changed: the changed fields before and after (``content_of`` names,
    and ``send_at`` as ISO text), and the approvals the content change cleared."""

    before: dict[str, Any]
    after: dict[str, Any]
    approvals_cleared: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.after)


def is_web_link(link: str) -> bool:
    """An absolute http(s) URL with a host, and no spaces, control characters or quotes."""
    if not re.fullmatch(r"https?://[^\s<>\"\x00-\x1f\x7f]+", link, flags=re.IGNORECASE):
        return False
    try:
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
        return bool(parts.hostname)
    except ValueError:  # a malformed port or IPv6 literal
        return False


def validate(draft: Draft) -> Draft:
    """Refuse what would make a bad or dangerous email; returns the cleaned draft."""
    if "\r" in draft.subject or "\n" in draft.subject:
        raise AlertError("the subject must be a single line")
    subject = " ".join(strip_control(draft.subject).split())
    if not subject:
        raise AlertError("the subject is empty")
    if len(subject) > SUBJECT_MAX:
        raise AlertError(f"the subject is {len(subject)} characters; keep it under {SUBJECT_MAX}")
    body = strip_control(draft.body).strip()
    if not body:
        raise AlertError("the body is empty")
    if len(body) > BODY_MAX:
        raise AlertError(f"the body is {len(body)} characters; keep it under {BODY_MAX}")
    link = draft.link.strip()
    if link and not is_web_link(link):
        raise AlertError("the link must be an http:// or https:// address")
    if draft.audience not in AUDIENCES:
        raise AlertError(f"the audience must be one of {', '.join(AUDIENCES)}")
    if draft.audience == "topics" and not draft.topics:
        raise AlertError("choose at least one topic, or send to all alert subscribers")
    return Draft(subject, body, link, draft.audience, tuple(draft.topics), draft.item_id)


def draft_from_item(item_id: int, *, session: Session) -> Draft:
    item = get_by_id(Item, item_id, session=session)
    if item is None:
        raise AlertError(f"no item {item_id}")
    topics = tuple(item.tags.get("crimes", [])) + tuple(item.tags.get("countries", []))
    return Draft(
        subject=item.title[:SUBJECT_MAX],
        body=item.summary_text or item.title,
        link=item.url,
        audience="all",
        topics=topics,
        item_id=item.id,
    )


def create_alert(
    draft: Draft, *, by: str, expires_in: timedelta, now: datetime, session: Session
) -> Campaign:
    """A draft alert campaign; nothing is queued until it is approved."""
    clean = validate(draft)
    campaign, _ = get_or_create_campaign(
        kind="alert",
        key=f"alert:{now:%Y%m%d}-{secrets.token_hex(4)}",
        template="alert",
        subject=clean.subject,
        context={
            "body": clean.body,
            "link": clean.link,
            "audience": clean.audience,
            "topics": list(clean.topics),
            "item_id": clean.item_id,
        },
        priority=Priority.ALERT,
        expires_at=now + expires_in,
        created_by=by,
        session=session,
    )
    return campaign


def content_of(campaign: Campaign) -> dict[str, Any]:
    """The words and audience readers get: what approvals are given for."""
    context = campaign.context
    by_topics = context.get("audience") == "topics"
    return {
        "subject": campaign.subject,
        "body": str(context.get("body", "")),
        "link": str(context.get("link", "")),
        "audience": "topics" if by_topics else "all",
        "topics": [str(t) for t in context.get("topics", [])] if by_topics else [],
    }


def version_of(campaign: Campaign) -> str:
    """A short fingerprint of the content (translations too), send time and expiry: the
    confirmation step sends it back, so an approval is refused when the alert changed
    after the page was read."""
    session = object_session(campaign)
    translations = translations_of(campaign.id, session=session) if session is not None else {}
    state = {
        **content_of(campaign),
        "send_at": _iso(campaign.send_at),
        "expires_at": _iso(campaign.expires_at),
        "translations": {code: t.as_dict() for code, t in translations.items()},
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_send_time(text: str, zone: str) -> datetime:
    """A send time written as ISO 8601 (``2026-12-08T18:00``, ``2026-12-08 18:00``, with or
    without seconds); without an offset it is read in the time zone ``zone`` (a local
    time that does not exist there, skipped by a clock change, is refused). In UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AlertError(
            f"the send time {text.strip()[:40]!r} is not a date and time like 2026-12-08 18:00"
        ) from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    local = parsed.replace(tzinfo=ZoneInfo(zone))
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    if back.replace(tzinfo=None) != parsed:
        raise AlertError(f"{parsed:%Y-%m-%d %H:%M} does not exist in {zone} (the clocks change)")
    return local.astimezone(UTC)


def check_send_time(at: datetime, *, expires_at: datetime | None, now: datetime) -> None:
    """A send time must be in the future and before the alert expires."""
    if at.tzinfo is None:
        raise AlertError("the send time needs a time zone")
    if at <= now:
        raise AlertError("the send time is in the past; choose a later time")
    if expires_at is not None and at >= expires_at:
        raise AlertError(
            f"the send time must be before the alert expires ({expires_at:%Y-%m-%d %H:%M} UTC)"
        )


def editable(campaign: Campaign, *, now: datetime) -> None:
    """Raise CampaignStateError unless the alert is a draft that has not expired."""
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignStateError(
            f"alert {campaign.id} is {campaign.status}: only a draft awaiting approval can change"
        )
    if campaign.expires_at is not None and campaign.expires_at <= now:
        raise CampaignStateError(
            f"alert {campaign.id} expired at {campaign.expires_at:%Y-%m-%d %H:%M} UTC"
        )


def edit_alert(
    campaign: Campaign,
    draft: Draft | None,
    *,
    schedule: Schedule | None = None,
    now: datetime,
    session: Session,
) -> EditResult:
    """Change a draft's content (``draft``; its item stays) and/or its send time. A change
    of the content clears every approval given so far: they approved other words. A
    change of the send time alone keeps them (the review screen shows it)."""
    lock_campaign(campaign, session=session)
    editable(campaign, now=now)
    old = {**content_of(campaign), "send_at": _iso(campaign.send_at)}
    new = dict(old)
    if draft is not None:
        clean = validate(draft)
        new.update(
            subject=one_line(clean.subject),
            body=clean.body,
            link=clean.link,
            audience=clean.audience,
            topics=list(clean.topics) if clean.audience == "topics" else [],
        )
    if schedule is not None:
        if schedule.at is not None:
            check_send_time(schedule.at, expires_at=campaign.expires_at, now=now)
        new["send_at"] = _iso(schedule.at)
    changed = [name for name in old if old[name] != new[name]]
    cleared: list[str] = []
    if any(name != "send_at" for name in changed):
        campaign.subject = new["subject"]
        campaign.context = {
            **campaign.context,
            "body": new["body"],
            "link": new["link"],
            "audience": new["audience"],
            "topics": new["topics"],
        }
        cleared = clear_approvals(campaign, session=session)
    if "send_at" in changed:
        campaign.send_at = schedule.at if schedule is not None else None
    session.flush()
    return EditResult(
        before={name: old[name] for name in changed},
        after={name: new[name] for name in changed},
        approvals_cleared=cleared,
    )


def clear_approvals(campaign: Campaign, *, session: Session) -> list[str]:
    """Drop every approval of the alert (its words changed); returns who had approved."""
    cleared = list(
        session.scalars(
            select(Approval.admin_email)
            .where(Approval.campaign_id == campaign.id)
            .order_by(Approval.at, Approval.id)
        )
    )
    session.execute(delete(Approval).where(Approval.campaign_id == campaign.id))
    return cleared


def get_alert(campaign_id: int, *, session: Session) -> Campaign:
    campaign = get_by_id(Campaign, campaign_id, session=session)
    if campaign is None or campaign.kind != "alert":
        raise AlertError(f"no alert {campaign_id}")
    return campaign


def alert_readers(campaign: Campaign, *, session: Session) -> Iterator[tuple[int, str]]:
    """(id, language) of each reader the alert goes to: alerts wanted, topics matching."""
    by_topics = campaign.context.get("audience") == "topics"
    wanted = set(campaign.context.get("topics", [])) if by_topics else None
    for subscriber_id, language, _topics, _english in matching_readers(
        wanting="alerts", topics=wanted, session=session
    ):
        yield subscriber_id, language


def audience_size(campaign: Campaign, *, session: Session) -> int:
    """How many readers approval would queue now (the same rule approval applies)."""
    return sum(1 for _ in alert_readers(campaign, session=session))


def approver(email: str, *, session: Session) -> Admin:
    """The existing, active admin ``email`` names; raises AlertError otherwise."""
    admin = session.scalar(select(Admin).where(Admin.email == email.strip().lower()))
    if admin is None or not admin.active:
        raise AlertError(f"no active admin {email}: only an existing, active admin may approve")
    return admin


def _check_approvable(campaign: Campaign, *, by: str, now: datetime, session: Session) -> str:
    """``by``'s address if they may approve the alert now; raises the reason otherwise."""
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignStateError(f"alert {campaign.id} is {campaign.status}, not awaiting approval")
    if campaign.expires_at is not None and campaign.expires_at <= now:
        raise CampaignStateError(
            f"alert {campaign.id} expired at {campaign.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    by = approver(by, session=session).email
    already = session.scalar(
        select(Approval.id).where(Approval.campaign_id == campaign.id, Approval.admin_email == by)
    )
    if already is not None:
        raise AlertError(f"{by} has already approved alert {campaign.id}; another admin must")
    return by


def approval_refusal(campaign: Campaign, *, by: str, now: datetime, session: Session) -> str:
    """Why ``by`` may not approve the alert now (the reason ``approve`` would give), or
    "" when they may; reads only, for pages that offer approving."""
    try:
        _check_approvable(campaign, by=by, now=now, session=session)
    except (AlertError, CampaignStateError) as exc:
        return str(exc)
    return ""


def approve(
    campaign: Campaign,
    *,
    by: str,
    settings: Settings,
    now: datetime,
    session: Session,
    version: str | None = None,
) -> ApprovalResult:
    """Record the approval of the admin ``by`` names; with enough approvals, queue it at
    once (same transaction).

    ``by`` must be an existing, active admin whom the caller has authenticated (console
    login, API token, or the password or token ``alert approve`` asks for), so the
    two-person rule (R2P_ALERT_APPROVERS) counts distinct admins who proved who they are.
    With ``version`` (``version_of`` as the admin's confirmation page showed it), the
    approval is refused if the alert changed since.
    """
    # Two admins approving (or one approving, one cancelling) at the same moment must see
    # each other's work: hold the campaign row before reading its state and approvals.
    lock_campaign(campaign, session=session)
    by = _check_approvable(campaign, by=by, now=now, session=session)
    if version is not None and version != version_of(campaign):
        raise AlertError(
            f"alert {campaign.id} changed after you opened the confirmation; read it again"
        )
    session.add(Approval(campaign_id=campaign.id, admin_email=by, at=now))
    session.flush()
    approvals = int(
        session.scalar(select(func.count()).where(Approval.campaign_id == campaign.id)) or 0
    )
    needed = settings.alert_approvers
    if approvals < needed:
        return ApprovalResult(False, approvals, needed, 0)
    if campaign.send_at is not None and campaign.send_at > now:
        campaign.status = CampaignStatus.SCHEDULED
        campaign.approved_by = by
        session.flush()
        return ApprovalResult(True, approvals, needed, 0, send_at=campaign.send_at)
    return ApprovalResult(True, approvals, needed, _send(campaign, by=by, now=now, session=session))


def _send(campaign: Campaign, *, by: str, now: datetime, session: Session) -> int:
    """Start the campaign and queue one delivery per reader of its audience."""
    start(campaign, by=by, now=now, session=session)
    assert campaign.expires_at is not None
    return enqueue(
        campaign,
        alert_readers(campaign, session=session),
        deadline_at=campaign.expires_at,
        now=now,
        session=session,
    )


def send_due(*, now: datetime, session: Session) -> dict[str, int]:
    """Queue the scheduled alerts whose send time has come (and that have not expired:
    the expiry sweep ends those). Returns {campaign key: deliveries queued}."""
    due = list(
        session.scalars(
            select(Campaign)
            .where(
                Campaign.kind == "alert",
                Campaign.status == CampaignStatus.SCHEDULED,
                Campaign.send_at <= now,
                Campaign.expires_at > now,
            )
            .order_by(Campaign.send_at, Campaign.id)
        )
    )
    queued: dict[str, int] = {}
    for campaign in due:
        lock_campaign(campaign, session=session)
        if campaign.status != CampaignStatus.SCHEDULED:  # cancelled meanwhile
            continue
        queued[campaign.key] = _send(
            campaign, by=campaign.approved_by or "scheduler", now=now, session=session
        )
    return queued


def alert_status(campaign: Campaign, *, session: Session) -> dict[str, Any]:
    approvers = list(
        session.scalars(select(Approval.admin_email).where(Approval.campaign_id == campaign.id))
    )
    return {
        "id": campaign.id,
        "key": campaign.key,
        "subject": campaign.subject,
        "status": campaign.status,
        "expires_at": campaign.expires_at,
        "send_at": campaign.send_at,
        "version": version_of(campaign),
        "approved_by": approvers,
        "translations": list(translations_of(campaign.id, session=session)),
        "counts": delivery_counts(campaign.id, session=session),
    }


def looks_urgent(item: Item, source: Source) -> bool:
    text = f"{item.title} {item.summary_text}"
    return bool(_URGENT.search(text)) or (source.always_relevant and "alert" in item.title.lower())


def suggestions(*, now: datetime, session: Session, days: int = 7, limit: int = 10) -> list[Item]:
    """Recent items that look urgent and have not been turned into an alert yet."""
    used = {
        c.context.get("item_id")
        for c in session.scalars(select(Campaign).where(Campaign.kind == "alert"))
    }
    rows = session.execute(
        select(Item, Source)
        .join(Source, Source.id == Item.source_id)
        .where(Item.relevant, Item.fetched_at >= now - timedelta(days=days))
        .order_by(Item.published_at.desc())
        .limit(200)
    )
    found = [item for item, source in rows if item.id not in used and looks_urgent(item, source)]
    return found[:limit]


def test_messages(
    campaign: Campaign, to: str, *, settings: Settings, session: Session
) -> list[bytes]:
    """Every version of the alert (the original, then each translation) exactly as
    readers will get it, addressed to ``to``, marked as a test."""
    languages = [ORIGINAL, *translations_of(campaign.id, session=session)]
    rendered = render_contents(campaign, languages, settings=settings, session=session)
    return [test_copy(rendered[code], to, settings=settings) for code in languages]
