"""Campaign reports: known deliveries, reports and unsubscribes give the right counts and
timeline, each campaign's own, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailer.outbox.status import DeliveryStatus
from staff.reports import campaign_report, recent_reports, timeline
from subscribers.consent import CONFIRMED, WITHDRAWN
from tests.conftest import Db
from tests.support.factories import (
    add_consent_event,
    add_mail_report,
    add_readers,
    alert_campaign,
    set_campaign,
    set_deliveries,
)

T0 = datetime(2026, 11, 30, 9, 20, tzinfo=UTC)  # approved; slots start at 09:00
SENT, FAILED = DeliveryStatus.SENT, DeliveryStatus.FAILED


def known_campaign(db: Db) -> tuple[int, list[int]]:
    """Ten readers: six sent at once, one sent after retries, one failed after retries,
    one cancelled, one still queued; bounces, a complaint and unsubscribes around them."""
    r = add_readers(db, [f"reader{n}@example.org" for n in range(10)])
    campaign = alert_campaign(db, r, key="alert:known")
    set_campaign(db, campaign, approved_at=T0)
    minutes = timedelta(minutes=10)
    set_deliveries(db, campaign, r[:6], status=SENT, attempts=1, sent_at=T0 + minutes)
    set_deliveries(db, campaign, [r[6]], status=SENT, attempts=3, sent_at=T0 + timedelta(hours=6))
    set_deliveries(
        db, campaign, [r[7]], status=FAILED, attempts=4, next_attempt_at=T0 + timedelta(hours=3)
    )
    set_deliveries(db, campaign, [r[8]], status=DeliveryStatus.CANCELLED)
    # r1 bounced twice (one message), r7 was refused at RCPT: two messages, both hard.
    add_mail_report(
        db, campaign, r[1], "bounce", decision="hard", received_at=T0 + timedelta(hours=1)
    )
    add_mail_report(
        db, campaign, r[1], "bounce", decision="soft", received_at=T0 + timedelta(hours=2)
    )
    add_mail_report(
        db,
        campaign,
        r[7],
        "bounce",
        decision="hard",
        via="smtp",
        received_at=T0 + timedelta(hours=3),
    )
    add_mail_report(
        db, campaign, r[2], "delay", decision="ignored", received_at=T0 + timedelta(hours=1)
    )
    add_mail_report(
        db, campaign, r[2], "complaint", decision="complaint", received_at=T0 + timedelta(days=1)
    )
    # Unsubscribes: r2 and r5 (twice) count; r3 too late, r4 before their mail, r7's mail
    # failed; r0 only confirmed.
    add_consent_event(db, r[2], WITHDRAWN, T0 + timedelta(days=1))
    add_consent_event(db, r[5], WITHDRAWN, T0 + timedelta(days=2))
    add_consent_event(db, r[5], WITHDRAWN, T0 + timedelta(days=3))
    add_consent_event(db, r[3], WITHDRAWN, T0 + timedelta(days=7, minutes=1))
    add_consent_event(db, r[4], WITHDRAWN, T0 - timedelta(days=1))
    add_consent_event(db, r[7], WITHDRAWN, T0 + timedelta(hours=4))
    add_consent_event(db, r[0], CONFIRMED, T0 + timedelta(hours=1))
    return campaign, r


def test_a_report_counts_known_deliveries_reports_and_unsubscribes(db: Db) -> None:
    campaign, _ = known_campaign(db)
    with db.session() as session:
        report = campaign_report(campaign, session=session)
    assert report is not None
    figures = report.figures
    assert (figures.queued, figures.waiting, figures.sent, figures.failed) == (10, 1, 7, 1)
    assert (figures.cancelled, figures.retried) == (1, 2)
    assert (figures.bounced, figures.hard_bounced, figures.bounced_after_sent) == (2, 2, 1)
    assert figures.delivered == 6
    assert (figures.complaints, figures.unsubscribes) == (1, 2)
    assert report.record()["unsubscribes"] == 2 and report.record()["delivered"] == 6


def test_the_timeline_puts_each_event_in_its_slot(db: Db) -> None:
    campaign, _ = known_campaign(db)
    with db.session() as session:
        report = campaign_report(campaign, session=session)
        assert report is not None
        line = timeline(report, now=T0 + timedelta(days=30), session=session)
    assert line.start == datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert line.step == timedelta(hours=6) and len(line.slots) == 29
    assert line.end == line.start + timedelta(hours=6 * 29)
    counts = {
        name: {i: s.counts[name] for i, s in enumerate(line.slots) if s.counts[name]}
        for name in ("sent", "failed", "bounced", "complaints", "unsubscribes")
    }
    assert counts == {
        "sent": {0: 6, 1: 1},
        "failed": {0: 1},
        "bounced": {0: 2},
        "complaints": {4: 1},
        "unsubscribes": {4: 1, 8: 1},
    }
    assert line.totals() == {
        "sent": 7,
        "failed": 1,
        "bounced": 2,
        "complaints": 1,
        "unsubscribes": 2,
    }


def test_a_young_campaigns_timeline_is_hourly_up_to_now(db: Db) -> None:
    campaign, _ = known_campaign(db)
    with db.session() as session:
        report = campaign_report(campaign, session=session)
        assert report is not None
        line = timeline(report, now=T0 + timedelta(hours=5), session=session)
    assert line.step == timedelta(hours=1) and len(line.slots) == 6
    assert [s.counts["sent"] for s in line.slots] == [6, 0, 0, 0, 0, 0]
    assert [s.counts["failed"] for s in line.slots] == [0, 0, 0, 1, 0, 0]
    assert [s.counts["bounced"] for s in line.slots] == [0, 1, 0, 1, 0, 0]


def test_each_campaign_has_its_own_figures_and_drafts_have_none(db: Db) -> None:
    campaign, r = known_campaign(db)
    other = alert_campaign(db, r[:3], key="alert:other")
    set_campaign(db, other, approved_at=T0 + timedelta(days=1, hours=1))
    set_deliveries(
        db, other, r[:3], status=SENT, attempts=1, sent_at=T0 + timedelta(days=1, hours=2)
    )
    add_mail_report(
        db, other, r[0], "complaint", decision="complaint", received_at=T0 + timedelta(days=2)
    )
    alert_campaign(db, r[:2], key="alert:draft", approve=False)
    with db.session() as session:
        reports = recent_reports(session=session)
    assert [report.id for report in reports] == [other, campaign]
    newest, oldest = reports[0].figures, reports[1].figures
    assert (newest.queued, newest.sent, newest.complaints, newest.bounced) == (3, 3, 1, 0)
    # r2 unsubscribed a day after the first campaign, before the second reached them.
    assert newest.unsubscribes == 0 and oldest.unsubscribes == 2
    assert (oldest.queued, oldest.complaints) == (10, 1)


def test_no_report_for_an_unknown_campaign_or_a_draft(db: Db) -> None:
    [reader] = add_readers(db, ["anna@example.org"])
    draft = alert_campaign(db, [reader], approve=False)
    with db.session() as session:
        assert campaign_report(draft, session=session) is None
        assert campaign_report(draft + 100, session=session) is None
