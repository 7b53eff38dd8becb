"""Recording reports: once each, and a campaign's policy refusals counted since staff last
resumed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from mailer.admins import audit
from mailer.bounces.decide import Decision, Verdict
from mailer.bounces.record import Entry, Limits, policy_refusals, record
from mailer.models import Campaign, MailReport
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign

LIMITS = Limits(hard_bounce_limit=2, policy_pause_after=2)
POLICY = Verdict(Decision.POLICY)


def _refusal(campaign: int, n: int) -> Entry:
    return Entry(via="smtp", kind="bounce", verdict=POLICY, campaign_id=campaign, dedupe=f"{n}")


def test_the_same_report_is_recorded_once(db: Db) -> None:
    campaign = alert_campaign(db, add_readers(db, ["a@example.net"]))
    now = datetime.now(UTC)
    with db.session() as session:
        first = record(_refusal(campaign, 1), limits=LIMITS, now=now, session=session)
        again = record(_refusal(campaign, 1), limits=LIMITS, now=now, session=session)
        session.commit()
        assert not first.duplicate and again.duplicate
        assert len(session.scalars(select(MailReport)).all()) == 1


def test_a_resumed_campaign_counts_its_refusals_from_zero(db: Db) -> None:
    campaign = alert_campaign(db, add_readers(db, ["a@example.net"]))
    now = datetime.now(UTC)
    with db.session() as session:
        record(_refusal(campaign, 1), limits=LIMITS, now=now, session=session)
        paused = record(_refusal(campaign, 2), limits=LIMITS, now=now, session=session)
        assert paused.paused == [campaign]
        assert session.get_one(Campaign, campaign).status == "paused"
        session.get_one(Campaign, campaign).status = "sending"
        audit(
            "amina@example.org",
            "campaign.resume",
            target=f"campaign:{campaign}",
            now=now,
            session=session,
        )
        later = now + timedelta(seconds=1)
        assert policy_refusals(campaign, session=session) == 0
        one = record(_refusal(campaign, 3), limits=LIMITS, now=later, session=session)
        assert one.paused == [] and session.get_one(Campaign, campaign).status == "sending"
        two = record(_refusal(campaign, 4), limits=LIMITS, now=later, session=session)
        assert two.paused == [campaign]


def test_a_report_with_nul_bytes_and_a_huge_body_is_kept_capped(db: Db) -> None:
    raw = "Subject: x\n\n\x00" + "y" * 100_000
    entry = Entry(
        via="inbound",
        kind="unparsed",
        verdict=Verdict(Decision.UNKNOWN),
        recipient="a\x00@example.net",
        diagnostic="bad\x00 diagnostic",
        raw=raw,
        dedupe="nul",
    )
    with db.session() as session:
        record(entry, limits=LIMITS, now=datetime.now(UTC), session=session)
        session.commit()
        [kept] = session.scalars(select(MailReport)).all()
    assert "\x00" not in kept.raw + kept.recipient + kept.diagnostic
    assert len(kept.raw) < 64_100 and kept.raw.endswith("more characters not kept]")
