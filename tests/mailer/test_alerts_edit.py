"""Editing a draft alert (a content change clears the approvals, a new send time keeps
them), the send time (checked, then waited for), the version an approval confirms, and
the scheduled send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailer.alerts import (
    AlertError,
    ApprovalResult,
    Draft,
    EditResult,
    Schedule,
    approve,
    edit_alert,
    parse_send_time,
    send_due,
    version_of,
)
from mailer.models import Campaign
from mailer.outbox.campaigns import CampaignStateError, cancel
from tests.conftest import Db
from tests.mailer.test_alerts import DRAFT, NOW, approve_as, new_alert
from tests.support.factories import add_admins, add_readers
from tests.support.ledger import deliveries

LATER = NOW + timedelta(hours=2)


def edit(
    db: Db,
    alert_id: int,
    draft: Draft | None,
    schedule: Schedule | None = None,
    now: datetime = NOW,
) -> EditResult:
    with db.session() as session:
        result = edit_alert(
            session.get_one(Campaign, alert_id), draft, schedule=schedule, now=now, session=session
        )
        session.commit()
        return result


def approve_version(db: Db, alert_id: int, version: str) -> ApprovalResult:
    """The admin second@r2p.org approves what a confirmation page showed as ``version``."""
    with db.session() as session:
        result = approve(
            session.get_one(Campaign, alert_id),
            by="second@r2p.org",
            settings=db.settings(),
            now=NOW,
            session=session,
            version=version,
        )
        session.commit()
        return result


def stored(db: Db, alert_id: int) -> Campaign:
    with db.session() as session:
        return session.get_one(Campaign, alert_id)


def test_a_content_change_clears_the_approvals_and_says_what_changed(db: Db) -> None:
    alert_id = new_alert(db)
    approve_as(db, alert_id, "first@r2p.org", alert_approvers=2)
    typo_fixed = Draft(DRAFT.subject.replace("El Fasher", "El-Fasher"), DRAFT.body, DRAFT.link)
    result = edit(db, alert_id, typo_fixed)
    assert result.before == {"subject": DRAFT.subject}
    assert result.after == {"subject": typo_fixed.subject}
    assert result.approvals_cleared == ["first@r2p.org"]
    assert stored(db, alert_id).subject == typo_fixed.subject
    # The first approver must approve again: their approval was for other words.
    again = approve_as(db, alert_id, "first@r2p.org", alert_approvers=2)
    assert (again.approved, again.approvals) == (False, 1)


def test_a_new_send_time_alone_keeps_the_approvals(db: Db) -> None:
    alert_id = new_alert(db)
    approve_as(db, alert_id, "first@r2p.org", alert_approvers=2)
    result = edit(db, alert_id, DRAFT, Schedule(LATER))
    assert result.before == {"send_at": None}
    assert result.after == {"send_at": LATER.isoformat()}
    assert result.approvals_cleared == []
    assert stored(db, alert_id).send_at == LATER
    assert not edit(db, alert_id, DRAFT).changed  # the same words change nothing


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (NOW - timedelta(minutes=1), "the send time is in the past"),
        (NOW + timedelta(hours=12), "must be before the alert expires"),
    ],
)
def test_a_send_time_in_the_past_or_after_the_expiry_is_refused(
    db: Db, at: datetime, message: str
) -> None:
    alert_id = new_alert(db)
    with pytest.raises(AlertError, match=message):
        edit(db, alert_id, None, Schedule(at))
    assert stored(db, alert_id).send_at is None


def test_only_a_draft_can_change(db: Db) -> None:
    add_readers(db, ["a@example.org"])
    alert_id = new_alert(db)
    approve_as(db, alert_id, "first@r2p.org")
    with pytest.raises(CampaignStateError, match="only a draft awaiting approval can change"):
        edit(db, alert_id, Draft("Another subject", "Another body"))
    expired = new_alert(db)
    with pytest.raises(CampaignStateError, match="expired at"):
        edit(db, expired, Draft("Late", "Too late."), now=NOW + timedelta(hours=13))


def test_an_approval_of_a_version_that_changed_since_is_refused(db: Db) -> None:
    add_readers(db, ["a@example.org"])
    alert_id = new_alert(db)
    seen = version_of(stored(db, alert_id))
    edit(db, alert_id, Draft("Changed after the page was read", DRAFT.body))
    add_admins(db, "second@r2p.org")
    with pytest.raises(AlertError, match="changed after you opened the confirmation"):
        approve_version(db, alert_id, seen)
    assert deliveries(db, alert_id) == []
    result = approve_version(db, alert_id, version_of(stored(db, alert_id)))
    assert result.approved and result.queued == 1


def test_an_approved_alert_waits_for_its_send_time_then_goes_out(db: Db) -> None:
    add_readers(db, ["a@example.org", "b@example.org"])
    alert_id = new_alert(db)
    edit(db, alert_id, None, Schedule(LATER))
    result = approve_as(db, alert_id, "first@r2p.org")
    assert (result.approved, result.queued, result.send_at) == (True, 0, LATER)
    assert stored(db, alert_id).status == "scheduled"
    with db.session() as session:
        assert send_due(now=LATER - timedelta(seconds=1), session=session) == {}
        session.commit()
    assert deliveries(db, alert_id) == []
    with db.session() as session:
        sent = send_due(now=LATER, session=session)
        session.commit()
    assert sent == {stored(db, alert_id).key: 2}
    assert stored(db, alert_id).status == "sending"
    assert len(deliveries(db, alert_id)) == 2
    with db.session() as session:
        assert send_due(now=LATER, session=session) == {}  # once


def test_a_scheduled_alert_can_be_cancelled_and_then_nothing_goes_out(db: Db) -> None:
    add_readers(db, ["a@example.org"])
    alert_id = new_alert(db)
    edit(db, alert_id, None, Schedule(LATER))
    approve_as(db, alert_id, "first@r2p.org")
    with db.session() as session:
        cancel(session.get_one(Campaign, alert_id), now=NOW, session=session)
        session.commit()
    with db.session() as session:
        assert send_due(now=LATER, session=session) == {}
    assert stored(db, alert_id).status == "cancelled"
    assert deliveries(db, alert_id) == []


def test_a_send_time_without_an_offset_is_read_in_the_console_time_zone() -> None:
    assert parse_send_time("2026-12-08T18:00", "Europe/Zurich") == datetime(
        2026, 12, 8, 17, 0, tzinfo=UTC
    )
    assert parse_send_time("2026-12-08 18:00+00:00", "Europe/Zurich") == datetime(
        2026, 12, 8, 18, 0, tzinfo=UTC
    )
    with pytest.raises(AlertError, match="does not exist in Europe/Zurich"):
        parse_send_time("2026-03-29T02:30", "Europe/Zurich")
    with pytest.raises(AlertError, match="is not a date and time"):
        parse_send_time("tomorrow", "UTC")
