"""Translating an alert as a staff action: audited with the words before and after, only
for roles that may compose, only while the alert is a draft, and clearing the approvals
given so far (approvers approve every version)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailer.admins import add_admin
from mailer.alert_versions import Translation
from mailer.alerts import Draft, approve
from mailer.models import AlertTranslation, Approval, AuditEntry, Campaign
from mailer.outbox.campaigns import CampaignStateError
from mailer.roles import Role
from staff.actions import alerts
from staff.actions.actor import Actor, NotAllowedError
from tests.conftest import Db
from tests.support.factories import AMINA, PASSWORD

BRUNO, CARLA = "bruno@r2p.example", "carla@r2p.example"
NOW = datetime.now(UTC)
FRENCH = Translation("fr", "Risque imminent à El Fasher", "Des civils sont pris au piège.")


def web(email: str) -> Actor:
    return Actor.web(email, "192.0.2.1")


@pytest.fixture
def alert_id(db: Db) -> int:
    """A draft written by AMINA (owner); BRUNO is a viewer, CARLA an editor."""
    with db.session() as session:
        add_admin(AMINA, PASSWORD, role=Role.OWNER, session=session)
        add_admin(BRUNO, PASSWORD, role=Role.VIEWER, session=session)
        add_admin(CARLA, PASSWORD, role=Role.EDITOR, session=session)
        campaign = alerts.create(
            Draft("Imminent risk in El Fasher", "Civilians are trapped."),
            expires_in=None,
            actor=web(AMINA),
            settings=db.settings(),
            now=NOW,
            session=session,
        )
        session.commit()
        return campaign.id


def entries(db: Db, action: str) -> list[AuditEntry]:
    with db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def stored(db: Db, alert_id: int) -> dict[str, str]:
    with db.session() as session:
        rows = session.scalars(
            select(AlertTranslation).where(AlertTranslation.campaign_id == alert_id)
        )
        return {row.language: row.subject for row in rows}


def test_a_translation_is_audited_with_before_and_after(db: Db, alert_id: int) -> None:
    with db.session() as session:
        campaign = session.get_one(Campaign, alert_id)
        alerts.translate(campaign, FRENCH, actor=web(CARLA), now=NOW, session=session)
        fixed = Translation("fr", "Risque imminent à El-Fasher", FRENCH.body)
        alerts.translate(campaign, fixed, actor=web(CARLA), now=NOW, session=session)
        alerts.translate(campaign, fixed, actor=web(CARLA), now=NOW, session=session)  # same
        alerts.untranslate(campaign, "fr", actor=web(CARLA), now=NOW, session=session)
        alerts.untranslate(campaign, "fr", actor=web(CARLA), now=NOW, session=session)  # none
        session.commit()
        key = campaign.key
    added, changed = entries(db, "alert.translate")
    assert (added.actor, added.target, added.detail["language"]) == (CARLA, key, "fr")
    assert added.detail["before"] is None
    assert added.detail["after"] == {
        "subject": FRENCH.subject,
        "body": FRENCH.body,
        "link_text": "",
    }
    assert changed.detail["before"]["subject"] == FRENCH.subject
    assert changed.detail["after"]["subject"] == "Risque imminent à El-Fasher"
    [removed] = entries(db, "alert.translation.remove")
    assert removed.detail["before"]["subject"] == "Risque imminent à El-Fasher"
    assert removed.detail["after"] is None
    assert stored(db, alert_id) == {}


def test_a_viewer_may_not_translate(db: Db, alert_id: int) -> None:
    with db.session() as session:
        campaign = session.get_one(Campaign, alert_id)
        with pytest.raises(NotAllowedError, match="editor role or higher"):
            alerts.translate(campaign, FRENCH, actor=web(BRUNO), now=NOW, session=session)
        with pytest.raises(NotAllowedError, match="editor role or higher"):
            alerts.untranslate(campaign, "fr", actor=web(BRUNO), now=NOW, session=session)
    assert stored(db, alert_id) == {} and entries(db, "alert.translate") == []


def test_a_translation_clears_the_approvals_given_so_far(db: Db, alert_id: int) -> None:
    settings = db.settings(alert_approvers=2)
    with db.session() as session:
        campaign = session.get_one(Campaign, alert_id)
        approve(campaign, by=AMINA, settings=settings, now=NOW, session=session)
        change = alerts.translate(campaign, FRENCH, actor=web(CARLA), now=NOW, session=session)
        assert change.approvals_cleared == [AMINA]
        assert session.scalars(select(Approval)).all() == []
        approve(campaign, by=AMINA, settings=settings, now=NOW, session=session)
        removed = alerts.untranslate(campaign, "fr", actor=web(CARLA), now=NOW, session=session)
        assert removed.approvals_cleared == [AMINA]
        session.commit()
    [entry] = entries(db, "alert.translate")
    assert entry.detail["approvals_cleared"] == [AMINA]


def test_only_a_draft_can_be_translated(db: Db, alert_id: int) -> None:
    with db.session() as session:
        campaign = session.get_one(Campaign, alert_id)
        alerts.translate(campaign, FRENCH, actor=web(CARLA), now=NOW, session=session)
        approve(campaign, by=AMINA, settings=db.settings(), now=NOW, session=session)
        session.commit()
        other = Translation("es", "Riesgo inminente", "Civiles atrapados.")
        with pytest.raises(CampaignStateError, match="only a draft awaiting approval"):
            alerts.translate(campaign, other, actor=web(CARLA), now=NOW, session=session)
        with pytest.raises(CampaignStateError, match="only a draft awaiting approval"):
            alerts.untranslate(campaign, "fr", actor=web(CARLA), now=NOW, session=session)
    assert stored(db, alert_id) == {"fr": FRENCH.subject}
