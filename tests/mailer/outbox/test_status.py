"""The status enums are the strings (and the priorities the numbers) that databases hold
today: the columns are plain, unconstrained String(16) and Integer, so a renamed member
would silently stop matching the rows already stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum

import pytest
from sqlalchemy import String, text

from mailer.models import Campaign, Delivery, Subscriber
from mailer.outbox.status import (
    ACTIVE_DELIVERY,
    FINISHED_CAMPAIGN,
    OPEN_CAMPAIGN,
    SUPPRESSED,
    UNREACHABLE,
    CampaignStatus,
    DeliveryStatus,
    Priority,
    SubscriberStatus,
)
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign

STORED_TODAY: list[tuple[type[Enum], object, set[object]]] = [
    (
        CampaignStatus,
        Campaign.status,
        {"draft", "scheduled", "sending", "paused", "done", "cancelled", "expired"},
    ),
    (DeliveryStatus, Delivery.status, {"queued", "sending", "sent", "failed", "cancelled"}),
    (
        SubscriberStatus,
        Subscriber.status,
        {"pending", "active", "unsubscribed", "bounced", "complained"},
    ),
    (Priority, Campaign.priority, {0, 50, 100}),
]


@pytest.mark.parametrize(("enum", "column", "stored"), STORED_TODAY)
def test_each_enum_holds_exactly_the_values_stored_today(
    enum: type[Enum], column: object, stored: set[object]
) -> None:
    assert {member.value for member in enum} == stored
    assert all(member == member.value for member in enum)
    column_type = column.type  # type: ignore[attr-defined]
    if isinstance(column_type, String):
        assert column_type.length is not None
        assert max(len(value) for value in stored) <= column_type.length  # type: ignore[arg-type]


def test_the_model_defaults_are_members() -> None:
    defaults = {
        Campaign.status: CampaignStatus,
        Delivery.status: DeliveryStatus,
        Subscriber.status: SubscriberStatus,
    }
    for column, enum in defaults.items():
        assert column.default is not None
        assert column.default.arg in {member.value for member in enum}


def test_the_groups_are_what_the_ledger_meant() -> None:
    assert set(ACTIVE_DELIVERY) == {"queued", "sending"}
    assert set(OPEN_CAMPAIGN) | set(FINISHED_CAMPAIGN) == set(CampaignStatus)
    assert not set(OPEN_CAMPAIGN) & set(FINISHED_CAMPAIGN)
    assert {"unsubscribed", "bounced", "complained"} == SUPPRESSED
    assert {"bounced", "complained"} == UNREACHABLE


def test_members_are_written_as_the_plain_strings(db: Db) -> None:
    """Written through the ORM (and read back with plain SQL), a member is its value on
    both drivers, not its name."""
    [reader] = add_readers(db, ["a@example.org"], status=SubscriberStatus.BOUNCED)
    campaign_id = alert_campaign(
        db, [reader], priority=Priority.TRANSACTIONAL, deadline=timedelta(hours=1)
    )
    with db.session() as session:
        session.get_one(Campaign, campaign_id).finished_at = datetime.now(UTC)
        session.get_one(Campaign, campaign_id).status = CampaignStatus.DONE
        session.commit()
        row = session.execute(
            text(
                "SELECT s.status, c.status, c.priority, d.status, d.priority"
                " FROM subscribers s JOIN deliveries d ON d.subscriber_id = s.id"
                " JOIN campaigns c ON c.id = d.campaign_id"
            )
        ).one()
    assert tuple(row) == ("bounced", "done", 50, "queued", 50)
    assert [type(value) for value in row] == [str, str, int, str, int]
