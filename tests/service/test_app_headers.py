"""Security headers on every answer (one middleware), HSTS on https sites, and error
answers that never carry a secret or the exception's text (issue 12)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from service.app import create_app
from tests.conftest import Db
from tests.support.browser import CSRF_INPUT, Site
from tests.support.console import admin_site, log_in, token_for
from tests.support.factories import AMINA, PASSWORD, add_admins, stored_alert

METRICS_TOKEN = "metrics-token-for-the-header-tests-42"
HSTS = "max-age=31536000; includeSubDomains"
HTTPS = "https://r2p.example"


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db, AMINA, metrics_token=METRICS_TOKEN) as site:
        yield site


def assert_secure(response: httpx.Response, what: str) -> None:
    headers = response.headers
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("referrer-policy") == "no-referrer", what
    csp = headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors" in csp, what
    assert headers.get("x-frame-options") in {"DENY", "SAMEORIGIN"}, what


def logged_in(http: httpx.Client) -> httpx.Client:
    token = CSRF_INPUT.search(http.get("/admin/login").text)
    assert token
    data = {"email": AMINA, "password": PASSWORD, "csrf_token": token.group(1)}
    assert http.post("/admin/login", data=data).status_code == 303
    return http


def every_kind(http: httpx.Client, admin: httpx.Client, db: Db) -> dict[str, httpx.Response]:
    """One answer of each kind the app gives."""
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    api = {"Authorization": f"Bearer {token_for(db)}"}
    alert = stored_alert(db)
    return {
        "reader page": http.get("/subscribe"),
        "admin page": admin.get("/admin"),
        "email preview": admin.get(f"/admin/alerts/{alert}/preview"),
        "redirect": http.get("/admin"),
        "metrics": http.get("/metrics", headers=bearer),
        "metrics refused": http.get("/metrics"),
        "healthz": http.get("/healthz"),
        "rss": http.get("/archive/feed.xml"),
        "json 401": http.get("/api/health"),
        "json 422": http.post("/api/alerts", json={"nope": 1}, headers=api),
        "json 404": http.get("/api/alerts/999", headers=api),
        "404": http.get("/no/such/page"),
        "405": http.delete("/subscribe"),
        "static": http.get("/static/r2p.css"),
        "413": http.post("/subscribe", content=b"x" * (65 * 1024)),
    }


def test_every_kind_of_answer_carries_the_security_headers(site: Site, db: Db) -> None:
    with httpx.Client(base_url=site.url) as http, httpx.Client(base_url=site.url) as admin:
        answers = every_kind(http, logged_in(admin), db)
    for what, response in answers.items():
        assert response.status_code != 500, what
        assert_secure(response, what)
        assert "strict-transport-security" not in response.headers, what  # http site


def test_https_sites_send_hsts_on_every_answer(db: Db) -> None:
    add_admins(db, AMINA)
    app = create_app(db.settings(base_url=HTTPS, metrics_token=METRICS_TOKEN))
    with (
        TestClient(app, base_url=HTTPS, follow_redirects=False) as http,
        TestClient(app, base_url=HTTPS, follow_redirects=False) as admin,
    ):
        answers = every_kind(http, logged_in(admin), db)
    for what, response in answers.items():
        assert response.status_code != 500, what
        assert response.headers.get("strict-transport-security") == HSTS, what
        assert_secure(response, what)


def test_email_previews_may_be_framed_by_our_own_pages_only(site: Site, db: Db) -> None:
    response = log_in(site).get(f"/admin/alerts/{stored_alert(db)}/preview")
    assert response.status_code == 200
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    page = log_in(site).get("/admin")
    assert page.headers["x-frame-options"] == "DENY"


def test_a_server_error_names_no_secret_and_keeps_the_headers(site: Site, db: Db) -> None:
    token = token_for(db)
    # The table goes away for the two requests and comes back: the PostgreSQL database is
    # shared by the tests that follow.
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE campaigns RENAME TO campaigns_hidden"))
    try:
        with httpx.Client(base_url=site.url) as http:
            api = http.get("/api/alerts/1", headers={"Authorization": f"Bearer {token}"})
            page = log_in(site).get("/admin/campaigns")
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE campaigns_hidden RENAME TO campaigns"))
    for response in (api, page):
        assert response.status_code == 500
        assert_secure(response, "500")
        for secret in (token, "campaigns", "SELECT", "Traceback", "sqlite", site.settings.database):
            assert secret not in response.text
    assert api.json() == {"detail": "Internal server error. It has been logged."}
