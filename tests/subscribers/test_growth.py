"""Growth per week: consent events and erasures counted in the week (Monday, UTC) they
happened; a choices change or lifted suppression is no signup; older weeks left out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mailer.models import Erasure
from subscribers.choices import Choices
from subscribers.consent import (
    ADMIN,
    CHANGED,
    CONFIRMED,
    RESTORED,
    SIGNUP,
    WITHDRAWN,
    Consent,
    record_event,
)
from subscribers.growth import weekly_growth
from tests.conftest import Db
from tests.support.factories import add_readers

NOW = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)  # a Wednesday
THIS_MONDAY = date(2026, 12, 7)
THIS_MONDAY_AT_MIDNIGHT = datetime(2026, 12, 7, tzinfo=UTC)


def events(db: Db, *happened: tuple[str, datetime]) -> None:
    [reader] = add_readers(db, ["anna@example.org"])
    with db.session() as session:
        for event, at in happened:
            record_event(reader, event, Consent(at, "form", ""), Choices(), session=session)
        session.commit()


def test_events_are_counted_in_their_week(db: Db) -> None:
    last_week = NOW - timedelta(days=7)
    events(
        db,
        (SIGNUP, last_week),
        (CONFIRMED, last_week + timedelta(hours=1)),
        (ADMIN, NOW),
        (WITHDRAWN, NOW),
        (CHANGED, NOW),
        (RESTORED, NOW),
        (SIGNUP, NOW - timedelta(weeks=12)),  # before the first week shown
    )
    with db.session() as session:
        session.add(Erasure(erased_at=THIS_MONDAY_AT_MIDNIGHT, was_status="active"))
        session.commit()
        weeks = weekly_growth(now=NOW, weeks=12, session=session)
    assert len(weeks) == 12
    assert weeks[0].start == THIS_MONDAY - timedelta(weeks=11)
    assert weeks[-1].start == THIS_MONDAY
    assert weeks[-2].counts == {"signups": 1, "confirmations": 1, "unsubscribes": 0, "erasures": 0}
    assert weeks[-1].counts == {"signups": 1, "confirmations": 0, "unsubscribes": 1, "erasures": 1}
    assert all(sum(w.counts.values()) == 0 for w in weeks[:-2])
