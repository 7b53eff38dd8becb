"""The campaigns page: a paused campaign (one that paused itself on policy refusals) is
resumed with a button, audited."""

from __future__ import annotations

from sqlalchemy import select

from mailer.models import AuditEntry, Campaign
from tests.conftest import Db
from tests.support.browser import Reader
from tests.support.factories import AMINA, add_readers, alert_campaign

PAGE = "/admin/campaigns"


def _pause(db: Db, campaign_id: int) -> None:
    with db.session() as session:
        session.get_one(Campaign, campaign_id).status = "paused"
        session.commit()


def test_a_paused_campaign_is_resumed_from_the_campaigns_page(db: Db, reader: Reader) -> None:
    campaign = alert_campaign(db, add_readers(db, ["a@example.net"]))
    _pause(db, campaign)
    assert f"/admin/campaigns/{campaign}/resume" in reader.get(PAGE).text
    forged = reader.http.post(f"{PAGE}/{campaign}/resume", data={})
    assert forged.status_code == 400
    done = reader.post(f"{PAGE}/{campaign}/resume", {}, token_from=PAGE)
    assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?done=resumed"
    with db.session() as session:
        assert session.get_one(Campaign, campaign).status == "sending"
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "campaign.resume")
        ).all()
        assert (entry.actor, entry.target) == (AMINA, f"campaign:{campaign}")
    assert "Resumed: its remaining mail goes out now." in reader.get(f"{PAGE}?done=resumed").text
    again = reader.post(f"{PAGE}/{campaign}/resume", {}, token_from=PAGE)
    assert again.status_code == 409 and "is sending, not paused" in again.text
