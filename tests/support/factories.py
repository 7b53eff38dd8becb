"""Rows for tests, made directly in the database: readers, admins, feed sources and items,
alerts (as staff create them, or queued straight into the ledger), deliveries settled by
hand, reports about delivered mail and consent-history events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from mailer.admins import add_admin
from mailer.alerts import Draft, create_alert
from mailer.models import Campaign, ConsentEvent, Delivery, Item, MailReport, Source, Subscriber
from mailer.outbox.campaigns import get_or_create_campaign, start
from mailer.outbox.ledger import enqueue
from mailer.outbox.status import Priority
from tests.conftest import Db

PASSWORD = "correct horse battery staple"
AMINA = "amina@r2p.example"
ALERT_SUBJECT = "Imminent risk of mass atrocities in El Fasher"


def add_admins(db: Db, *emails: str) -> None:
    with db.session() as session:
        for email in emails:
            add_admin(email, PASSWORD, session=session)
        session.commit()


def stored_alert(
    db: Db, *, created: datetime | None = None, expires_in: timedelta = timedelta(hours=12)
) -> int:
    """An alert made directly in the database (e.g. in the past, to expire it)."""
    with db.session() as session:
        campaign = create_alert(
            Draft(ALERT_SUBJECT, "Civilians are trapped."),
            by=AMINA,
            expires_in=expires_in,
            now=created or datetime.now(UTC),
            session=session,
        )
        session.commit()
        return campaign.id


def add_source(db: Db, key: str = "un-news", **fields: Any) -> int:
    values = {"url": f"https://example.org/{key}.xml", "title": key, **fields}
    with db.session() as session:
        source = Source(key=key, **values)
        session.add(source)
        session.commit()
        return source.id


def add_item(db: Db, source_id: int, title: str, **fields: Any) -> int:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "url": f"https://example.org/story/{abs(hash(title))}",
        "summary_text": f"{title}. Civilians are at risk.",
        "published_at": now - timedelta(hours=2),
        "fetched_at": now - timedelta(hours=1),
        "tags": {"crimes": ["genocide"], "countries": ["sudan"], "r2p": True},
        "relevance": 5,
        "relevant": True,
        **fields,
    }
    with db.session() as session:
        item = Item(
            source_id=source_id, uid=title, dedupe_key=f"test:{title}", title=title, **values
        )
        session.add(item)
        session.commit()
        return item.id


def add_readers(db: Db, emails: list[str], **fields: Any) -> list[int]:
    values = {"status": "active", **fields}
    with db.session() as session:
        readers = [Subscriber(email=email, **values) for email in emails]
        session.add_all(readers)
        session.commit()
        return [reader.id for reader in readers]


def alert_campaign(
    db: Db,
    reader_ids: list[int],
    *,
    key: str = "alert:test",
    subject: str = "Imminent risk in El Fasher",
    priority: int = Priority.ALERT,
    expires_in: timedelta | None = None,
    deadline: timedelta = timedelta(days=2),
    approve: bool = True,
) -> int:
    now = datetime.now(UTC)
    with db.session() as session:
        campaign, _ = get_or_create_campaign(
            kind="alert",
            key=key,
            template="alert",
            subject=subject,
            context={"body": "Civilians are at imminent risk.", "link": "https://example.org/a"},
            priority=priority,
            expires_at=now + expires_in if expires_in else None,
            session=session,
        )
        if approve:
            start(campaign, by="admin@example.org", now=now, session=session)
        enqueue(
            campaign,
            [(i, "en") for i in reader_ids],
            deadline_at=now + deadline,
            now=now,
            session=session,
        )
        session.commit()
        return campaign.id


def set_campaign(db: Db, campaign_id: int, **values: Any) -> None:
    """Change a campaign's columns (e.g. ``approved_at`` in the past)."""
    with db.session() as session:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(**values))
        session.commit()


def set_deliveries(db: Db, campaign_id: int, reader_ids: list[int], **values: Any) -> None:
    """Change the campaign's deliveries to these readers, as if the worker had settled
    them (``status``, ``attempts``, ``sent_at``, ``next_attempt_at``...)."""
    with db.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id, Delivery.subscriber_id.in_(reader_ids))
            .values(**values)
        )
        session.commit()


def add_mail_report(
    db: Db, campaign_id: int | None, reader_id: int | None, kind: str, **fields: Any
) -> int:
    """A bounce, complaint or other report about the campaign's mail to the reader (its
    delivery found from both, as the bounce processing records it)."""
    with db.session() as session:
        delivery_id = session.scalar(
            select(Delivery.id).where(
                Delivery.campaign_id == campaign_id, Delivery.subscriber_id == reader_id
            )
        )
        values: dict[str, Any] = {"via": "inbound", "decision": "unknown", **fields}
        report = MailReport(
            campaign_id=campaign_id,
            subscriber_id=reader_id,
            delivery_id=delivery_id,
            kind=kind,
            **values,
        )
        session.add(report)
        session.commit()
        return report.id


def add_consent_event(db: Db, reader_id: int, event: str, at: datetime, form: str = "") -> None:
    with db.session() as session:
        session.add(ConsentEvent(subscriber_id=reader_id, event=event, at=at, form=form))
        session.commit()
