"""The JSON admin API: bearer tokens (missing, wrong, revoked), alerts (create, status,
approve, cancel) with every refusal as a clear 4xx, suggestions, health, and its OpenAPI
description."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mailer.admins import get_admin, revoke_tokens
from tests.conftest import Db
from tests.support.browser import Site
from tests.support.console import BRUNO, admin_site, audit_actions, campaign, log_in, token_for
from tests.support.factories import AMINA, add_item, add_readers, add_source, stored_alert
from tests.support.ledger import deliveries

ALERT = {
    "subject": "Imminent risk of mass atrocities in El Fasher",
    "body": "Civilians are trapped.\r\n\r\nThe Council must act.",
    "link": "https://example.org/el-fasher",
}


class Api:
    """An API client holding one admin's token."""

    def __init__(self, site: Site, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = site.client(**headers)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(path, json=body or {})


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db, AMINA, BRUNO) as site:
        yield site


@pytest.fixture
def api(site: Site, db: Db) -> Iterator[Api]:
    client = Api(site, token_for(db))
    yield client
    client.http.close()


def create(api: Api, **fields: Any) -> httpx.Response:
    return api.post("/api/alerts", {**ALERT, **fields})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/alerts/1"),
        ("POST", "/api/alerts"),
        ("POST", "/api/alerts/1/approve"),
        ("POST", "/api/alerts/1/cancel"),
        ("GET", "/api/suggestions"),
        ("GET", "/api/health"),
    ],
)
def test_a_call_without_a_token_is_refused(site: Site, method: str, path: str) -> None:
    response = site.client().request(method, path, json=ALERT)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"
    assert "Authorization: Bearer" in response.json()["detail"]


def test_a_wrong_token_or_another_scheme_is_refused(site: Site) -> None:
    for header in ("Bearer r2p_not-a-real-token", "Basic YWRtaW46YWRtaW4=", "Bearer"):
        response = httpx.get(site.url + "/api/health", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_a_revoked_token_is_refused(site: Site, db: Db) -> None:
    token = token_for(db)
    api = Api(site, token)
    assert api.get("/api/health").status_code == 200
    with db.session() as session:
        revoke_tokens(get_admin(AMINA, session=session), now=datetime.now(UTC), session=session)
        session.commit()
    response = api.get("/api/health")
    assert response.status_code == 401
    assert "not valid" in response.json()["detail"]
    assert create(api).status_code == 401
    assert [a for a in audit_actions(db) if a[1] == "alert.create"] == []


def test_a_token_of_a_deactivated_admin_is_refused(site: Site, db: Db) -> None:
    api = Api(site, token_for(db))
    with db.session() as session:
        get_admin(AMINA, session=session).active = False
        session.commit()
    assert api.get("/api/health").status_code == 401


def test_tokens_never_reach_the_logs(site: Site, db: Db, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = token_for(db)
    Api(site, token).get("/api/health")
    Api(site, token + "x").get("/api/health")
    assert token not in caplog.text


def test_an_alert_is_created_as_a_draft_and_audited(api: Api, site: Site) -> None:
    response = create(api, topics=["Sudan", "genocide"], expires_in="6h")
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "draft" and body["subject"] == ALERT["subject"]
    assert body["approved_by"] == [] and body["approvals_needed"] == 1
    assert body["counts"] == {"queued": 0, "sending": 0, "sent": 0, "failed": 0, "cancelled": 0}
    stored = campaign(site, body["id"])
    assert stored.context["topics"] == ["genocide", "sudan"]
    assert stored.context["audience"] == "topics"
    assert stored.context["body"] == "Civilians are trapped.\n\nThe Council must act."
    assert stored.expires_at is not None
    assert timedelta(hours=5, minutes=59) < stored.expires_at - stored.created_at
    assert audit_actions(site)[-1] == (AMINA, "alert.create", stored.key)
    assert api.get(f"/api/alerts/{body['id']}").json() == body


def test_an_alert_can_be_created_from_a_stored_item(api: Api, db: Db) -> None:
    item = add_item(db, add_source(db), "Special Adviser alarmed by attacks on El Fasher")
    response = api.post("/api/alerts", {"item_id": item})
    assert response.status_code == 201
    assert response.json()["subject"] == "Special Adviser alarmed by attacks on El Fasher"
    assert api.post("/api/alerts", {"item_id": 999}).json()["detail"] == "no item 999"
    huge = 10**22
    assert api.post("/api/alerts", {"item_id": huge}).json()["detail"] == f"no item {huge}"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"subject": "One\r\nBcc: victim@example.org"}, "the subject must be a single line"),
        ({"subject": "x" * 1000}, "the subject is 1000 characters; keep it under 200"),
        ({"body": "  \n\n  "}, "the body is empty"),
        ({"link": "ftp://example.org"}, "the link must be an http:// or https:// address"),
        ({"link": "https://example.org/\x01\x00"}, "the link must be an http:// or https://"),
        ({"link": "https://example.org:99999/"}, "the link must be an http:// or https://"),
        ({"topics": ["atlantis"]}, "Unknown topic: atlantis."),
        ({"expires_in": "soon"}, "expires_in: 'soon' is not a duration"),
        ({"expires_in": "30d"}, "an alert may wait at most 7 days before it expires"),
        ({"expires_in": "99999999999d"}, "expires_in:"),
    ],
)
def test_a_bad_alert_is_refused_with_a_422_and_its_reason(
    api: Api, site: Site, fields: dict[str, Any], reason: str
) -> None:
    response = create(api, **fields)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(reason)
    assert [a for a in audit_actions(site) if a[1] == "alert.create"] == []


def test_unknown_fields_are_refused(api: Api) -> None:
    assert create(api, send_now=True).status_code == 422


@pytest.mark.parametrize("field", ["subject", "body", "link", "expires_in"])
def test_text_that_is_not_valid_unicode_is_a_422(api: Api, site: Site, field: str) -> None:
    """A lone surrogate is valid JSON but cannot be stored (or echoed back as UTF-8)."""
    body = json.dumps({**ALERT, field: "Risk\ud800"}).encode()
    headers = {"content-type": "application/json"}
    response = api.http.post("/api/alerts", content=body, headers=headers)
    assert response.status_code == 422
    assert "lone surrogate" in response.json()["detail"][0]["msg"]
    assert [a for a in audit_actions(site) if a[1] == "alert.create"] == []


def test_approving_queues_the_alert_and_approving_twice_is_a_409(api: Api, db: Db) -> None:
    add_readers(db, ["a@example.org", "b@example.org"])
    alert_id = create(api).json()["id"]
    response = api.post(f"/api/alerts/{alert_id}/approve")
    assert response.status_code == 200
    body = response.json()
    assert (body["approved"], body["queued"], body["approvals"], body["needed"]) == (
        True,
        2,
        1,
        1,
    )
    assert body["alert"]["status"] == "sending" and body["alert"]["counts"]["queued"] == 2
    assert body["message"] == f"Alert {alert_id} approved: 2 delivery(ies) queued."
    assert audit_actions(db)[-1][:2] == (AMINA, "alert.approve")
    again = api.post(f"/api/alerts/{alert_id}/approve")
    assert again.status_code == 409
    assert "is sending, not awaiting approval" in again.json()["detail"]
    assert len(deliveries(db, alert_id)) == 2


def test_the_two_person_rule_holds_over_the_api(db: Db) -> None:
    add_readers(db, ["a@example.org"])
    with admin_site(db, AMINA, BRUNO, alert_approvers=2) as site:
        amina, bruno = Api(site, token_for(db, AMINA)), Api(site, token_for(db, BRUNO))
        alert_id = create(amina).json()["id"]
        first = amina.post(f"/api/alerts/{alert_id}/approve").json()
        assert (first["approved"], first["approvals"], first["needed"]) == (False, 1, 2)
        assert first["message"] == "Approval 1 of 2 recorded; another admin must approve."
        same = amina.post(f"/api/alerts/{alert_id}/approve")
        assert same.status_code == 409
        assert "amina@r2p.example has already approved" in same.json()["detail"]
        assert deliveries(db, alert_id) == []
        second = bruno.post(f"/api/alerts/{alert_id}/approve").json()
        assert second["approved"] and second["queued"] == 1
        assert second["alert"]["approved_by"] == [AMINA, BRUNO]


def test_an_expired_or_cancelled_alert_cannot_be_approved(api: Api, db: Db) -> None:
    expired = stored_alert(db, created=datetime.now(UTC) - timedelta(hours=13))
    response = api.post(f"/api/alerts/{expired}/approve")
    assert response.status_code == 409 and "expired at" in response.json()["detail"]
    cancelled = create(api).json()["id"]
    assert api.post(f"/api/alerts/{cancelled}/cancel").status_code == 200
    response = api.post(f"/api/alerts/{cancelled}/approve")
    assert response.status_code == 409
    assert "is cancelled, not awaiting approval" in response.json()["detail"]


def test_cancelling_drops_what_is_unsent_and_cancelling_again_is_a_409(api: Api, db: Db) -> None:
    add_readers(db, ["a@example.org", "b@example.org"])
    alert_id = create(api).json()["id"]
    api.post(f"/api/alerts/{alert_id}/approve")
    response = api.post(f"/api/alerts/{alert_id}/cancel")
    assert response.status_code == 200
    assert response.json()["cancelled"] == 2
    assert response.json()["alert"]["status"] == "cancelled"
    assert audit_actions(db)[-1][:2] == (AMINA, "alert.cancel")
    assert api.post(f"/api/alerts/{alert_id}/cancel").status_code == 409


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/alerts/{id}"),
        ("POST", "/api/alerts/{id}/approve"),
        ("POST", "/api/alerts/{id}/cancel"),
    ],
)
@pytest.mark.parametrize("alert", ["999", "99999999999999999999999", "0"])
def test_an_unknown_alert_is_a_404(api: Api, method: str, path: str, alert: str) -> None:
    response = api.http.request(method, path.format(id=alert))
    assert response.status_code == 404 and response.json()["detail"] == f"no alert {alert}"


def test_suggestions_list_urgent_items_not_yet_used(api: Api, db: Db) -> None:
    source = add_source(db)
    urgent = add_item(db, source, "Risk of genocide in Darfur, Special Adviser warns")
    add_item(db, source, "General Assembly adopts budget", tags={}, relevant=True)
    [suggestion] = api.get("/api/suggestions").json()
    assert suggestion["item_id"] == urgent
    assert suggestion["source"] == "un-news"
    assert suggestion["tags"] == ["genocide", "r2p", "sudan"]
    api.post("/api/alerts", {"item_id": urgent})
    assert api.get("/api/suggestions").json() == []


def test_health_reports_the_database_queue_and_feeds(api: Api, db: Db) -> None:
    add_source(db, consecutive_failures=2)
    body = api.get("/api/health").json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["queue_depth"] == 0
    assert body["feeds"] == {"enabled": 1, "failing": 1}
    assert body["scheduler"] == {"alive": False, "holder": None}


def test_the_api_reference_is_only_for_logged_in_admins(site: Site) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(site.url + path).status_code == 404, path
    for path in ("/admin/api", "/admin/api/openapi.json"):
        response = httpx.get(site.url + path)
        assert response.status_code == 303 and "/admin/login" in response.headers["location"]


def test_the_api_reference_page_lists_every_operation_with_its_fields(site: Site) -> None:
    page = log_in(site).get("/admin/api")
    assert page.status_code == 200
    for operation in (
        "POST</span> <code>/api/alerts</code>",
        "GET</span> <code>/api/alerts/{alert_id}</code>",
        "POST</span> <code>/api/alerts/{alert_id}/approve</code>",
        "POST</span> <code>/api/alerts/{alert_id}/cancel</code>",
        "GET</span> <code>/api/suggestions</code>",
        "GET</span> <code>/api/health</code>",
    ):
        assert operation in page.text, operation
    assert "<code>expires_in</code>" in page.text and "How long it may be sent" in page.text
    assert "<code>alert_id (path)</code>" in page.text
    assert "r2p-mailer admins token" in page.text
    assert "<code>/subscribe</code>" not in page.text and "<code>/healthz</code>" not in page.text


def test_the_openapi_document_describes_the_admin_api(site: Site) -> None:
    response = log_in(site).get("/admin/api/openapi.json")
    assert response.headers["cache-control"] == "no-store"
    document = response.json()
    paths = document["paths"]
    for path, method, model in (
        ("/api/alerts", "post", "AlertOut"),
        ("/api/alerts/{alert_id}", "get", "AlertOut"),
        ("/api/alerts/{alert_id}/approve", "post", "ApprovalOut"),
        ("/api/alerts/{alert_id}/cancel", "post", "CancelOut"),
        ("/api/health", "get", "HealthOut"),
    ):
        operation = paths[path][method]
        assert operation["security"] == [{"AdminToken": []}], path
        assert operation["summary"], path
        ok = operation["responses"]["201" if method == "post" and path == "/api/alerts" else "200"]
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith(model), path
        assert "401" in operation["responses"], path
    assert "409" in paths["/api/alerts/{alert_id}/approve"]["post"]["responses"]
    assert document["components"]["securitySchemes"]["AdminToken"]["scheme"] == "bearer"
    assert all(p.startswith("/api/") for p in paths)  # pages stay out of the API
