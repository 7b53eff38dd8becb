"""The list's growth per week (Monday to Sunday, UTC): signups, confirmations,
unsubscribes and erasures, for the staff console's chart.

Signups and confirmations come from the consent history (a reader added by staff counts
as a signup too); an erased reader's history goes with them, so their earlier weeks lose
that reader, while their erasure is counted from the anonymous ``erasures`` row. Bounces
have no date of their own (a counter on the reader), so they are not charted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.models import ConsentEvent, Erasure
from subscribers.consent import ADMIN, CONFIRMED, SIGNUP, WITHDRAWN

SERIES = ("signups", "confirmations", "unsubscribes", "erasures")
_EVENTS = {
    SIGNUP: "signups",
    ADMIN: "signups",
    CONFIRMED: "confirmations",
    WITHDRAWN: "unsubscribes",
}


@dataclass(frozen=True)
class Week:
    start: date  # a Monday
    counts: dict[str, int]


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_growth(*, now: datetime, weeks: int = 12, session: Session) -> list[Week]:
    """The last ``weeks`` weeks, oldest first, this week included."""
    first = week_start(now.date()) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    tally: Counter[tuple[date, str]] = Counter()
    events = session.execute(
        select(ConsentEvent.event, ConsentEvent.at).where(ConsentEvent.at >= since)
    )
    for event, at in events:
        series = _EVENTS.get(event)
        if series is not None:
            tally[week_start(at.date()), series] += 1
    for at in session.scalars(select(Erasure.erased_at).where(Erasure.erased_at >= since)):
        tally[week_start(at.date()), "erasures"] += 1
    return [
        Week(start, {name: tally[start, name] for name in SERIES})
        for start in (first + timedelta(weeks=n) for n in range(weeks))
    ]
