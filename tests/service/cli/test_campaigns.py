"""`r2p-mailer campaign resume`."""

from __future__ import annotations

from mailer.models import Campaign
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.running import invoke


def test_resume_restarts_a_paused_campaign_once(cli_env: Db) -> None:
    db = cli_env
    campaign = alert_campaign(db, add_readers(db, ["a@example.net"]))
    with db.session() as session:
        session.get_one(Campaign, campaign).status = "paused"
        session.commit()
    code, output = invoke("campaign", "resume", str(campaign))
    assert code == 0 and f"Campaign {campaign} (alert:test) resumed." in output
    with db.session() as session:
        assert session.get_one(Campaign, campaign).status == "sending"
    code, output = invoke("campaign", "resume", str(campaign))
    assert code == 1 and "is sending, not paused" in output
    code, output = invoke("campaign", "resume", "999999")
    assert code == 1 and "no campaign 999999" in output
