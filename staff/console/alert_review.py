"""The review screen for the second approver: the alert as readers will get it, what
changed since the first approval and since it was written (field by field, the message
line by line), and who wrote, edited, tested and approved it, read from the audit log
(every ``alert.edit`` entry holds the changed fields before and after). Approving goes on
through the confirmation step (``alert_confirm``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailer import i18n
from mailer.alerts import AlertError, content_of, get_alert
from mailer.db import session_scope
from mailer.models import Approval, AuditEntry, Campaign
from mailer.web.pages import factory_of, settings_of
from staff.console.alert_form import local_time
from staff.console.alert_pages import no_alert, preview_of
from staff.console.alert_view import ENGLISH_NAMES, alert_view_for
from staff.console.auth import require_admin
from staff.console.session import AdminIdentity
from staff.console.views import page
from subscribers.choices import Vocabulary, vocabulary

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]

FIELDS = ("subject", "body", "link", "audience", "topics", "send_at")
LABELS = {
    "subject": "Subject",
    "body": "Message",
    "link": "Link",
    "audience": "Who gets it",
    "topics": "Topics",
    "send_at": "Send time",
}


@dataclass(frozen=True)
class DiffLine:
    kind: str  # same, added, removed
    text: str


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str
    after: str
    lines: list[DiffLine]  # the message, line by line; empty for one-line fields


@dataclass(frozen=True)
class Event:
    at: datetime
    actor: str
    what: str
    changes: list[FieldChange]
    note: str = ""
    text_dir: str = ""  # a translation's words: their language's direction


@dataclass(frozen=True)
class Edit:
    entry: int  # the audit entry's id: the log's order, even within one second
    before: dict[str, Any]


class Shown:
    """Stored values as the page shows them (topic labels, times in the console's zone)."""

    def __init__(self, zone: str, known: Vocabulary) -> None:
        self.zone = zone
        self.known = known

    def __call__(self, name: str, value: Any) -> str:
        if name == "send_at":
            if not value:
                return "as soon as it is approved"
            return local_time(datetime.fromisoformat(str(value)), self.zone)
        if name == "audience":
            return (
                "only readers of chosen topics" if value == "topics" else "every alert subscriber"
            )
        if name == "topics":
            return ", ".join(self.known.label(str(t)) for t in value or []) or "none"
        if name == "link" and not value:
            return "none"
        return str(value)


def body_lines(before: str, after: str) -> list[DiffLine]:
    """The message line by line: kept, removed and added lines, in reading order."""
    old, new = before.splitlines(), after.splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            lines += [DiffLine("same", line) for line in old[i1:i2]]
            continue
        lines += [DiffLine("removed", line) for line in old[i1:i2]]
        lines += [DiffLine("added", line) for line in new[j1:j2]]
    return lines


def changes(before: dict[str, Any], after: dict[str, Any], shown: Shown) -> list[FieldChange]:
    """The fields that differ, in form order."""
    found = []
    for name in FIELDS:
        if name not in before or name not in after or before[name] == after[name]:
            continue
        lines = body_lines(str(before[name]), str(after[name])) if name == "body" else []
        found.append(
            FieldChange(LABELS[name], shown(name, before[name]), shown(name, after[name]), lines)
        )
    return found


def current_state(campaign: Campaign) -> dict[str, Any]:
    return {
        **content_of(campaign),
        "send_at": campaign.send_at.isoformat() if campaign.send_at else None,
    }


def state_at(current: dict[str, Any], edits: Iterable[Edit], after: int | None) -> dict[str, Any]:
    """The alert as it was after audit entry ``after`` (None: as written): the current
    state with the ``before`` of every later edit put back, the latest first."""
    state = dict(current)
    for edit in sorted(edits, key=lambda e: e.entry, reverse=True):
        if after is None or edit.entry > after:
            state.update({k: v for k, v in edit.before.items() if k in FIELDS})
    return state


def _entries(campaign: Campaign, session: Session) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(
                or_(AuditEntry.target == campaign.key, AuditEntry.target == f"alert:{campaign.id}")
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )


def _event(entry: AuditEntry, shown: Shown) -> Event:
    detail = entry.detail or {}
    action = entry.action
    if action == "alert.create":
        return Event(entry.at, entry.actor, "Wrote the draft", [])
    if action == "alert.edit":
        cleared = [str(a) for a in detail.get("approvals_cleared", [])]
        note = f"Cleared the approval of {', '.join(cleared)}." if cleared else ""
        found = changes(dict(detail.get("before", {})), dict(detail.get("after", {})), shown)
        return Event(entry.at, entry.actor, "Edited", found, note)
    if action in ("alert.translate", "alert.translation.remove"):
        return _translation_event(entry, shown)
    if action == "alert.test":
        verdict = str(detail.get("verdict", ""))
        return Event(
            entry.at, entry.actor, f"Sent a test to {detail.get('to', '')} ({verdict})", []
        )
    if action == "alert.approve":
        when = detail.get("scheduled_for")
        what = "Approved" + (f": it waits for {shown('send_at', when)}" if when else "")
        return Event(entry.at, entry.actor, what, [])
    if action == "alert.approve.refused":
        return Event(entry.at, entry.actor, f"Approval refused: {detail.get('reason', '')}", [])
    if action == "alert.cancel":
        return Event(entry.at, entry.actor, "Cancelled", [])
    if action == "alert.send":
        return Event(
            entry.at, entry.actor, f"Sent at its send time: {detail.get('queued', 0)} queued", []
        )
    return Event(entry.at, entry.actor, action, [])


def _translation_event(entry: AuditEntry, shown: Shown) -> Event:
    """A translation added, replaced or removed: its words before and after."""
    detail = entry.detail or {}
    language = str(detail.get("language", ""))
    name = ENGLISH_NAMES.get(language, language)
    empty = {"subject": "", "body": ""}  # added or removed: every line is a change
    before = {**empty, **(detail.get("before") or {})}
    after = {**empty, **(detail.get("after") or {})}
    cleared = [str(a) for a in detail.get("approvals_cleared", [])]
    note = f"Cleared the approval of {', '.join(cleared)}." if cleared else ""
    if entry.action == "alert.translation.remove":
        what = f"Removed the {name} translation"
    else:
        what = f"{'Changed' if detail.get('before') else 'Added'} the {name} translation"
    found = changes(before, after, shown)
    return Event(entry.at, entry.actor, what, found, note, i18n.direction(language))


@dataclass(frozen=True)
class Review:
    events: list[Event]
    since_written: list[FieldChange]
    first_approval: tuple[str, datetime] | None  # the earliest approval still standing
    since_approval: list[FieldChange]
    edited: bool


def review_of(campaign: Campaign, *, zone: str, known: Vocabulary, session: Session) -> Review:
    shown = Shown(zone, known)
    entries = _entries(campaign, session)
    edits = [
        Edit(e.id, dict(e.detail.get("before", {}))) for e in entries if e.action == "alert.edit"
    ]
    current = current_state(campaign)
    first = session.execute(
        select(Approval.admin_email, Approval.at)
        .where(Approval.campaign_id == campaign.id)
        .order_by(Approval.at, Approval.id)
        .limit(1)
    ).first()
    since_approval = []
    if first is not None:
        # Their standing approval is their last alert.approve entry (an earlier one was
        # cleared by an edit, or it would be the only one).
        approved = [e.id for e in entries if e.action == "alert.approve" and e.actor == first[0]]
        mark = approved[-1] if approved else None
        since_approval = changes(state_at(current, edits, mark), current, shown)
    return Review(
        events=[_event(e, shown) for e in entries],
        since_written=changes(state_at(current, edits, None), current, shown),
        first_approval=(first[0], first[1]) if first is not None else None,
        since_approval=since_approval,
        edited=bool(edits),
    )


@router.get("/admin/alerts/{alert_id}/review")
def review(request: Request, admin: Admin, alert_id: int) -> Response:
    settings = settings_of(request)
    now = datetime.now(UTC)
    with session_scope(factory_of(request)) as session:
        try:
            campaign = get_alert(alert_id, session=session)
        except AlertError:
            return no_alert(request, admin, alert_id)
        known = vocabulary(settings.relevance_file)
        view = alert_view_for(
            campaign,
            viewer=admin.email,
            settings=settings,
            now=now,
            session=session,
            known=known,
        )
        found = review_of(campaign, zone=settings.console_timezone, known=known, session=session)
    context = {
        "alert": view,
        "review": found,
        "text": preview_of(request, campaign, admin.email).text,
    }
    return page(request, "alert_review.html", context, admin=admin, section="campaigns")
