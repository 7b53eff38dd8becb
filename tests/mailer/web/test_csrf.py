"""CSRF tokens bound to the admin session (a token from another session, or from before
login, is refused) and `__Host-` cookies on https sites (issue 12)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from service.app import create_app
from tests.conftest import Db
from tests.support.browser import CSRF_INPUT, Site
from tests.support.console import BRUNO, DRAFT, admin_site, log_in, login
from tests.support.factories import AMINA, PASSWORD, add_admins

HTTPS = "https://news.r2p.example"


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db, AMINA, BRUNO) as site:
        yield site


def test_a_token_from_before_login_is_refused_after_it(site: Site) -> None:
    reader = site.reader()
    before = reader.form_token("/admin/login")
    assert login(reader, AMINA, PASSWORD).status_code == 303
    stale = reader.http.post("/admin/alerts", data={**DRAFT, "csrf_token": before})
    assert stale.status_code == 400
    fresh = reader.post("/admin/alerts", DRAFT, token_from="/admin/alerts/new")
    assert fresh.status_code == 303


def test_a_token_from_another_admins_session_is_refused(site: Site) -> None:
    amina, bruno = log_in(site, AMINA), log_in(site, BRUNO)
    token = amina.form_token("/admin/alerts/new")
    # Even with Amina's CSRF cookie as well, Bruno's session does not take her token.
    cookie = amina.http.cookies.get("r2p_csrf")
    assert cookie
    bruno.http.cookies.delete("r2p_csrf")
    bruno.http.cookies.set("r2p_csrf", cookie, domain="127.0.0.1", path="/")
    answer = bruno.http.post("/admin/alerts", data={**DRAFT, "csrf_token": token})
    assert answer.status_code == 400


def test_a_token_from_an_earlier_session_of_the_same_admin_is_refused(site: Site) -> None:
    reader = log_in(site)
    old = reader.form_token("/admin/alerts/new")
    reader.post("/admin/logout", {}, token_from="/admin")
    assert login(reader, AMINA, PASSWORD).status_code == 303
    assert reader.http.post("/admin/alerts", data={**DRAFT, "csrf_token": old}).status_code == 400


def set_cookies(response_headers: list[tuple[str, str]]) -> dict[str, str]:
    """name -> the whole Set-Cookie header."""
    found = {}
    for name, value in response_headers:
        if name.lower() == "set-cookie":
            found[value.split("=", 1)[0]] = value
    return found


def test_https_sites_use_host_prefixed_cookies_and_the_forms_still_work(db: Db) -> None:
    add_admins(db, AMINA)
    app = create_app(db.settings(base_url=HTTPS))
    with TestClient(app, base_url=HTTPS, follow_redirects=False) as client:
        page = client.get("/subscribe")
        cookies = set_cookies(page.headers.multi_items())
        assert list(cookies) == ["__Host-r2p_csrf"]
        assert_host_cookie(cookies["__Host-r2p_csrf"])
        # A reader's form works with the prefixed cookie.
        token = CSRF_INPUT.search(page.text)
        assert token
        signup = client.post(
            "/subscribe",
            data={
                "email": "reader@example.org",
                "digest": "on",
                "language": "en",
                "topics_mode": "all",
                "consent": "on",
                "csrf_token": token.group(1),
            },
        )
        assert signup.status_code == 303, signup.text
        # So does the admin login, whose session cookie is prefixed as well.
        form = CSRF_INPUT.search(client.get("/admin/login").text)
        assert form
        answer = client.post(
            "/admin/login",
            data={"email": AMINA, "password": PASSWORD, "csrf_token": form.group(1)},
        )
        assert answer.status_code == 303
        session = set_cookies(answer.headers.multi_items())["__Host-r2p_admin"]
        assert_host_cookie(session)
        assert "samesite=strict" in session.lower()
        assert client.get("/admin").status_code == 200
        compose = CSRF_INPUT.search(client.get("/admin/alerts/new").text)
        assert compose
        draft = client.post("/admin/alerts", data={**DRAFT, "csrf_token": compose.group(1)})
        assert draft.status_code == 303


def assert_host_cookie(header: str) -> None:
    parts = [p.strip().lower() for p in header.split(";")]
    assert "secure" in parts and "path=/" in parts and "httponly" in parts, header
    assert not any(re.match(r"domain=", p) for p in parts), header
