"""Urgent alerts as staff act on them: create a draft, edit it or set its send time,
add, replace or remove a translation, send oneself a test, approve, cancel. The console,
the API and the CLI call these, so every front end applies the same checks (topics,
expiry, send time) and writes the same audit entry (alert.create, alert.edit,
alert.translate, alert.translation.remove, alert.test, alert.approve, alert.cancel).

Like data functions they take the session and never commit; the caller commits, then
wakes the delivery worker (after the commit, or it would find nothing to send).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailer.alert_translations import TranslationChange, remove_translation, set_translation
from mailer.alert_versions import Translation
from mailer.alerts import (
    AlertError,
    ApprovalResult,
    Draft,
    EditResult,
    Schedule,
    approve,
    check_send_time,
    create_alert,
    draft_from_item,
    edit_alert,
    test_messages,
)
from mailer.config import MAX_ALERT_LIFETIME, Settings
from mailer.models import Campaign
from mailer.outbox.campaigns import cancel
from mailer.roles import Permission
from mailer.sending import SendResult, send_now
from staff.actions.actor import Actor
from subscribers.choices import ChoiceError, clean_topics, vocabulary

MAX_LIFETIME = MAX_ALERT_LIFETIME
TOO_LONG = "an alert may wait at most 7 days before it expires"


def lifetime(expires_in: timedelta | None, settings: Settings) -> timedelta:
    """How long the alert may wait to be sent (default R2P_ALERT_EXPIRES): at most
    ``MAX_LIFETIME`` whoever asks, so a forgotten draft cannot go out weeks later."""
    chosen = settings.alert_expires if expires_in is None else expires_in
    if chosen <= timedelta(0):
        raise AlertError("the expiry must be in the future")
    if chosen > MAX_LIFETIME:
        raise AlertError(TOO_LONG)
    return chosen


def from_item(draft: Draft, *, session: Session) -> Draft:
    """``draft`` with its empty subject, body and link taken from its item (if it names
    one; raises AlertError when that item does not exist)."""
    if draft.item_id is None:
        return draft
    base = draft_from_item(draft.item_id, session=session)
    return Draft(
        subject=draft.subject or base.subject,
        body=draft.body or base.body,
        link=draft.link or base.link,
        audience=draft.audience,
        topics=draft.topics,
        item_id=draft.item_id,
    )


def _known_topics(draft: Draft, settings: Settings) -> Draft:
    try:
        topics = clean_topics(draft.topics, vocabulary(settings.relevance_file))
    except ChoiceError as exc:
        raise AlertError(str(exc)) from None
    return Draft(draft.subject, draft.body, draft.link, draft.audience, topics, draft.item_id)


def create(
    draft: Draft,
    *,
    expires_in: timedelta | None,
    actor: Actor,
    settings: Settings,
    now: datetime,
    session: Session,
    send_at: datetime | None = None,
) -> Campaign:
    """A draft alert; nothing is sent until it is approved (and, with ``send_at``, not
    before then). Raises AlertError with the reason: an unknown item or topic, an expiry
    beyond ``MAX_LIFETIME``, a send time in the past or after the expiry, a bad field."""
    actor.require(Permission.COMPOSE, session=session)
    chosen = lifetime(expires_in, settings)
    if draft.item_id is not None:
        draft_from_item(draft.item_id, session=session)  # the item must exist
    campaign = create_alert(
        _known_topics(draft, settings),
        by=actor.email,
        expires_in=chosen,
        now=now,
        session=session,
    )
    if send_at is not None:
        check_send_time(send_at, expires_at=campaign.expires_at, now=now)
        campaign.send_at = send_at
    actor.record(
        "alert.create",
        target=campaign.key,
        now=now,
        session=session,
        expires_at=str(campaign.expires_at),
        **({"send_at": send_at.isoformat()} if send_at is not None else {}),
    )
    return campaign


def edit(
    campaign: Campaign,
    draft: Draft | None,
    *,
    schedule: Schedule | None = None,
    actor: Actor,
    settings: Settings,
    now: datetime,
    session: Session,
) -> EditResult:
    """Change a draft's words and audience (``draft``) and/or its send time
    (``schedule``), until it is approved. A content change clears the approvals given so
    far. Audited as alert.edit with the changed fields before and after and the approvals
    cleared; an edit that changes nothing is not audited. Raises AlertError (a bad field,
    an unknown topic, a send time in the past or after the expiry) or CampaignStateError
    (no longer a draft, expired)."""
    actor.require(Permission.COMPOSE, session=session)
    known = _known_topics(draft, settings) if draft is not None else None
    result = edit_alert(campaign, known, schedule=schedule, now=now, session=session)
    if result.changed:
        actor.record(
            "alert.edit",
            target=campaign.key,
            now=now,
            session=session,
            before=result.before,
            after=result.after,
            approvals_cleared=result.approvals_cleared,
        )
    return result


def translate(
    campaign: Campaign,
    draft: Translation,
    *,
    actor: Actor,
    now: datetime,
    session: Session,
) -> TranslationChange:
    """Add or replace the draft alert's words in ``draft.language``; its readers in that
    language get them instead of the original. Clears the approvals given so far, like
    an edit of the words. Audited as alert.translate with the language's words before and
    after; a change that changes nothing is not audited. Raises TranslationError (a bad
    field or language) or CampaignStateError (no longer a draft, expired)."""
    actor.require(Permission.COMPOSE, session=session)
    change = set_translation(campaign, draft, by=actor.email, now=now, session=session)
    _record(campaign, change, "alert.translate", actor=actor, now=now, session=session)
    return change


def untranslate(
    campaign: Campaign, language: str, *, actor: Actor, now: datetime, session: Session
) -> TranslationChange:
    """Remove the draft alert's words in ``language`` (its readers get the original
    again). Clears the approvals given so far; audited as alert.translation.remove with
    the words removed. Removing a translation that does not exist changes nothing."""
    actor.require(Permission.COMPOSE, session=session)
    change = remove_translation(campaign, language, now=now, session=session)
    _record(campaign, change, "alert.translation.remove", actor=actor, now=now, session=session)
    return change


def _record(
    campaign: Campaign,
    change: TranslationChange,
    action: str,
    *,
    actor: Actor,
    now: datetime,
    session: Session,
) -> None:
    if change.changed:
        actor.record(
            action,
            target=campaign.key,
            now=now,
            session=session,
            language=change.language,
            before=change.before,
            after=change.after,
            approvals_cleared=change.approvals_cleared,
        )


def send_test(
    campaign: Campaign,
    to: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    session: Session,
) -> list[SendResult]:
    """Send every version of the alert (the original, then each translation), marked
    [TEST], to ``to`` through the configured transport (SMTP or Maildir) and audit it
    with the server's verdicts. Runs its own event loop: call it from a thread that has
    none (a CLI command, a synchronous route). A transport that cannot be used at all
    raises (MailerError, OSError) and nothing is audited."""
    actor.require(Permission.COMPOSE, session=session)
    messages = test_messages(campaign, to, settings=settings, session=session)
    results = asyncio.run(send_now(settings, [(to, message) for message in messages]))
    verdicts = [result.verdict for result in results]
    actor.record(
        "alert.test",
        target=campaign.key,
        now=now,
        session=session,
        to=to,
        verdict="sent" if set(verdicts) == {"sent"} else next(v for v in verdicts if v != "sent"),
        versions=len(messages),
    )
    return results


def approve_alert(
    campaign: Campaign,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    session: Session,
    version: str | None = None,
) -> ApprovalResult:
    """Record the approval; with enough of them the alert is queued in this transaction,
    or waits as scheduled when it has a send time in the future. With ``version`` (what
    the confirmation step showed), refused if the alert changed since. Raises AlertError
    (not an active admin, same admin twice, changed) or CampaignStateError (not a draft,
    expired)."""
    actor.require(Permission.SEND, session=session)
    result = approve(
        campaign, by=actor.email, settings=settings, now=now, session=session, version=version
    )
    detail: dict[str, object] = {"queued": result.queued}
    if result.send_at is not None:
        detail["scheduled_for"] = result.send_at.isoformat()
    actor.record("alert.approve", target=campaign.key, now=now, session=session, **detail)
    return result


def refused_approval(
    alert_id: int, *, named: str, reason: str, actor: Actor, now: datetime, session: Session
) -> None:
    """Audit an approval that was refused (wrong password or token, not allowed), in a
    transaction of its own since the refused one is rolled back."""
    actor.record(
        "alert.approve.refused",
        target=f"alert:{alert_id}",
        now=now,
        session=session,
        named=named[:320],
        reason=reason,
    )


def cancel_alert(campaign: Campaign, *, actor: Actor, now: datetime, session: Session) -> int:
    """Stop the alert, even mid-send; returns the deliveries dropped."""
    actor.require(Permission.COMPOSE, session=session)
    cancelled = cancel(campaign, now=now, session=session)
    actor.record("alert.cancel", target=campaign.key, now=now, session=session, cancelled=cancelled)
    return cancelled
