"""PATCH /api/alerts/{id}: the audited edit of a draft over the API (fields left out stay,
a content change clears approvals, a send time alone keeps them), approving against the
version read, and a scheduled approval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from mailer.models import AuditEntry
from tests.conftest import Db
from tests.staff.api.test_routes import ALERT, Api, create
from tests.support.console import BRUNO, admin_site, token_for
from tests.support.factories import AMINA, add_readers
from tests.support.ledger import deliveries


def test_an_alert_is_edited_scheduled_and_approved_over_the_api(db: Db) -> None:
    add_readers(db, ["a@example.org", "b@example.org"])
    with admin_site(db, AMINA, BRUNO, alert_approvers=2) as site:
        amina, bruno = Api(site, token_for(db, AMINA)), Api(site, token_for(db, BRUNO))
        alert = create(amina).json()
        alert_id = alert["id"]
        assert amina.post(f"/api/alerts/{alert_id}/approve").json()["approvals"] == 1

        fixed = amina.http.patch(f"/api/alerts/{alert_id}", json={"subject": "El-Fasher"})
        assert fixed.status_code == 200, fixed.text
        body = fixed.json()
        assert body["before"] == {"subject": ALERT["subject"]}
        assert body["after"] == {"subject": "El-Fasher"}
        assert body["approvals_cleared"] == [AMINA] and body["alert"]["approved_by"] == []
        assert body["alert"]["version"] != alert["version"]
        with site.factory() as session:
            entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "alert.edit"))
            assert entry is not None and entry.detail["via"] == "api"

        at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
        amina.post(f"/api/alerts/{alert_id}/approve")
        later = amina.http.patch(f"/api/alerts/{alert_id}", json={"send_at": at.isoformat()})
        assert later.json()["approvals_cleared"] == [] and later.json()["alert"]["send_at"]
        past = amina.http.patch(f"/api/alerts/{alert_id}", json={"send_at": "2020-01-01T08:00Z"})
        assert past.status_code == 422 and "in the past" in past.json()["detail"]

        stale = bruno.post(f"/api/alerts/{alert_id}/approve", {"version": alert["version"]})
        assert stale.status_code == 409 and "changed after" in stale.json()["detail"]
        current = later.json()["alert"]["version"]
        done = bruno.post(f"/api/alerts/{alert_id}/approve", {"version": current}).json()
        assert done["approved"] and done["queued"] == 0
        assert done["alert"]["status"] == "scheduled" and deliveries(db, alert_id) == []
        refused = amina.http.patch(f"/api/alerts/{alert_id}", json={"body": "Too late."})
        assert refused.status_code == 409
