"""The weekly issue under review, as the scheduler runs it: prepared as a draft and the
admins told; at the slot an approved issue is queued once, one still in review is held
(the admins told once), and with review off the issue goes out as before."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from jobs.runtime import Runtime, install
from jobs.schedule import DAYS, catch_up_digest, prepare_digest_job, weekly_digest_job
from mailer.config import Settings
from mailer.digest_draft import approve, latest_draft, review_state
from mailer.models import Campaign, Delivery
from tests.conftest import Db
from tests.support.factories import AMINA, add_admins, add_item, add_readers, add_source

READERS = ["one@example.org", "two@example.org"]


def slot_settings(db: Db, slot: datetime, **overrides: object) -> Settings:
    """Settings whose weekly slot is ``slot`` (UTC)."""
    return db.settings(
        digest_day=DAYS[slot.weekday()],
        digest_time=slot.strftime("%H:%M"),
        digest_timezone="UTC",
        **overrides,
    )


@pytest.fixture
def slot(db: Db) -> Iterator[datetime]:
    """A slot a minute ago, two readers, an admin, and two stories published before the
    prepare time (an hour before the slot)."""
    slot = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    add_readers(db, READERS)
    add_admins(db, AMINA)
    source = add_source(db)
    earlier = slot - timedelta(hours=3)
    add_item(db, source, "Killings in El Fasher", published_at=earlier, fetched_at=earlier)
    add_item(db, source, "Displacement in Darfur camps", published_at=earlier, fetched_at=earlier)
    yield slot


def admin_mail(settings: Settings) -> list[str]:
    """Subjects of the notices in the admins' (Maildir) mail."""
    if not settings.mail_dir.exists():
        return []
    return sorted(str(m["Subject"]) for m in mailbox.Maildir(settings.mail_dir, create=False))


def deliveries(db: Db) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Delivery)) or 0


def draft(db: Db) -> Campaign:
    with db.session() as session:
        campaign = latest_draft(session=session)
        assert campaign is not None
        session.expunge(campaign)
        return campaign


def test_the_prepare_job_makes_one_draft_and_tells_the_admins(db: Db, slot: datetime) -> None:
    settings = slot_settings(db, slot)
    install(Runtime(settings, db.factory))
    prepare_digest_job(slot - timedelta(hours=1))
    prepare_digest_job(slot - timedelta(hours=1))  # the catch-up may run it again
    campaign = draft(db)
    assert review_state(campaign) == "in review"
    assert campaign.status == "draft"
    assert deliveries(db) == 0
    [subject] = admin_mail(settings)
    assert subject.startswith("Digest for review: ")


def test_an_approved_issue_goes_out_at_the_slot_once(db: Db, slot: datetime) -> None:
    settings = slot_settings(db, slot)
    install(Runtime(settings, db.factory))
    prepare_digest_job(slot - timedelta(hours=1))
    with db.session() as session:
        campaign = latest_draft(session=session)
        assert campaign is not None
        approve(campaign, settings=settings, by=AMINA, now=datetime.now(UTC), session=session)
        session.commit()
    assert deliveries(db) == 0  # approved for the slot, not sent yet
    weekly_digest_job()
    catch_up_digest()  # runs again within the grace time: nothing more
    weekly_digest_job()
    assert deliveries(db) == len(READERS)
    with db.session() as session:
        assert session.scalar(select(Campaign.status).where(Campaign.kind == "digest")) == (
            "sending"
        )


def test_an_issue_still_in_review_at_the_slot_is_held_and_the_admins_told_once(
    db: Db, slot: datetime
) -> None:
    settings = slot_settings(db, slot)
    install(Runtime(settings, db.factory))
    prepare_digest_job(slot - timedelta(hours=1))
    weekly_digest_job()
    catch_up_digest()
    weekly_digest_job()
    assert deliveries(db) == 0
    assert review_state(draft(db)) == "held"
    subjects = admin_mail(settings)
    assert [s for s in subjects if s.startswith("Digest held: ")] != []
    assert len([s for s in subjects if s.startswith("Digest held: ")]) == 1


def test_a_missed_prepare_time_still_holds_the_issue(db: Db, slot: datetime) -> None:
    settings = slot_settings(db, slot)
    install(Runtime(settings, db.factory))
    catch_up_digest()  # the scheduler was down all week: the slot passed a minute ago
    assert deliveries(db) == 0
    assert review_state(draft(db)) == "held"


def test_with_review_off_the_slot_sends_as_before(db: Db, slot: datetime) -> None:
    settings = slot_settings(db, slot, digest_review=False)
    install(Runtime(settings, db.factory))
    weekly_digest_job()
    assert deliveries(db) == len(READERS)
    assert admin_mail(settings) == []


def test_approving_a_held_issue_sends_it_at_once(db: Db, slot: datetime) -> None:
    settings = slot_settings(db, slot)
    install(Runtime(settings, db.factory))
    prepare_digest_job(slot - timedelta(hours=1))
    weekly_digest_job()
    assert review_state(draft(db)) == "held"
    with db.session() as session:
        campaign = latest_draft(session=session)
        assert campaign is not None
        now = datetime.now(UTC)
        queued = approve(campaign, settings=settings, by=AMINA, now=now, session=session)
        session.commit()
    assert queued == deliveries(db) == len(READERS)
    weekly_digest_job()  # the catch-up within the grace time: sent already, nothing more
    assert deliveries(db) == len(READERS)


def test_the_catch_up_prepares_a_draft_whose_prepare_time_passed_unnoticed(
    db: Db, slot: datetime
) -> None:
    settings = slot_settings(db, slot)
    install(Runtime(settings, db.factory))
    catch_up_digest(slot - settings.digest_prepare_at - timedelta(minutes=5))  # too early
    with db.session() as session:
        assert latest_draft(session=session) is None
    catch_up_digest(slot - timedelta(hours=1))  # within the prepare window, no draft yet
    assert review_state(draft(db)) == "in review"
    assert deliveries(db) == 0
