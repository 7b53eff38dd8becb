"""Who a mailing goes to: active readers who asked for this kind of mail and whose topics
match, streamed from the database in batches so memory does not grow with the list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.models import Subscriber
from mailer.outbox.status import SubscriberStatus


class Reader(NamedTuple):
    id: int
    language: str
    topics: list[str]
    include_english: bool


def matching_readers(
    *, wanting: Literal["digest", "alerts"], topics: set[str] | None, session: Session
) -> Iterator[Reader]:
    """Active readers who want ``wanting``. With ``topics``, only readers whose topics
    meet them; a reader with no topics asked for everything."""
    wants = Subscriber.wants_digest if wanting == "digest" else Subscriber.wants_alerts
    rows = session.execute(
        select(Subscriber.id, Subscriber.language, Subscriber.topics, Subscriber.include_english)
        .where(Subscriber.status == SubscriberStatus.ACTIVE, wants)
        .order_by(Subscriber.id)
        .execution_options(yield_per=2000)
    )
    for subscriber_id, language, chosen, include_english in rows:
        if topics is not None and chosen and not topics.intersection(chosen):
            continue
        yield Reader(subscriber_id, language, chosen, include_english)
