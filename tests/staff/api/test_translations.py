"""PUT and DELETE /api/alerts/{id}/translations/{lang}: the audited translation of a draft
over the API (approvals cleared, the alert's status naming its translations), refused
with the reason for a bad field or language, and once the alert is approved."""

from __future__ import annotations

from sqlalchemy import select

from mailer.models import AuditEntry
from tests.conftest import Db
from tests.staff.api.test_routes import Api, create
from tests.support.console import BRUNO, admin_site, token_for
from tests.support.factories import AMINA, add_readers

ARABIC = {"subject": "خطر وشيك في الفاشر", "body": "المدنيون محاصرون.\r\n\r\nعلى المجلس أن يتحرك."}


def test_a_translation_round_trips_over_the_api(db: Db) -> None:
    add_readers(db, ["a@example.org"], language="ar")
    with admin_site(db, AMINA, BRUNO, alert_approvers=2) as site:
        amina = Api(site, token_for(db, AMINA))
        alert = create(amina).json()
        path = f"/api/alerts/{alert['id']}/translations/ar"
        assert amina.post(f"/api/alerts/{alert['id']}/approve").json()["approvals"] == 1

        put = amina.http.put(path, json=ARABIC)
        assert put.status_code == 200, put.text
        body = put.json()
        assert body["language"] == "ar" and body["before"] is None
        assert body["after"] == {
            "subject": ARABIC["subject"],
            "body": "المدنيون محاصرون.\n\nعلى المجلس أن يتحرك.",
            "link_text": "",
        }
        assert body["approvals_cleared"] == [AMINA] and body["alert"]["approved_by"] == []
        assert body["alert"]["translations"] == ["ar"]
        assert body["alert"]["version"] != alert["version"]
        assert amina.get(f"/api/alerts/{alert['id']}").json()["translations"] == ["ar"]
        with site.factory() as session:
            entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "alert.translate"))
            assert entry is not None and entry.detail["via"] == "api"

        english = amina.http.put(f"/api/alerts/{alert['id']}/translations/en", json=ARABIC)
        assert english.status_code == 422 and "English is the original" in english.json()["detail"]
        empty = amina.http.put(path, json={**ARABIC, "body": " "})
        assert empty.status_code == 422 and "the body is empty" in empty.json()["detail"]
        extra = amina.http.put(path, json={**ARABIC, "language": "fr"})
        assert extra.status_code == 422
        missing = amina.http.put("/api/alerts/999/translations/ar", json=ARABIC)
        assert missing.status_code == 404

        removed = amina.http.delete(path)
        assert removed.status_code == 200, removed.text
        assert removed.json()["after"] is None and removed.json()["alert"]["translations"] == []

        amina.http.put(path, json=ARABIC)
        amina.post(f"/api/alerts/{alert['id']}/approve")
        Api(site, token_for(db, BRUNO)).post(f"/api/alerts/{alert['id']}/approve")
        late = amina.http.put(path, json={**ARABIC, "subject": "عاجل"})
        assert late.status_code == 409 and "only a draft" in late.json()["detail"]
        assert amina.http.delete(path).status_code == 409


def test_without_a_token_nothing_is_translated(db: Db) -> None:
    with admin_site(db) as site:
        anonymous = Api(site, None)
        assert anonymous.http.put("/api/alerts/1/translations/fr", json=ARABIC).status_code == 401
        assert anonymous.http.delete("/api/alerts/1/translations/fr").status_code == 401
