"""Logging in and out of the admin console: the session cookie, CSRF, rate limits, expiry,
and the same answer for every wrong login."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import Response

from mailer.admins import hash_password
from mailer.models import Admin
from staff.console import session as admin_session
from tests.conftest import Db, make_settings
from tests.support.browser import Reader, Site
from tests.support.console import BRUNO, admin_site, audit_actions, log_in, login
from tests.support.factories import AMINA, PASSWORD

WRONG = "Wrong email address or password."


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db, AMINA, BRUNO) as site:
        yield site


def session_cookie(response_or_header: str) -> str:
    match = re.search(r"r2p_admin=([^;]*);([^,]*)", response_or_header)
    assert match, response_or_header
    return match.group(0)


def age_session(site: Site, reader: Reader, age: timedelta) -> None:
    """Replace the reader's session with one issued ``age`` ago."""
    with site.factory() as session:
        admin = session.query(Admin).filter_by(email=AMINA).one()
        value = admin_session.issue(site.settings.signing_key, admin, datetime.now(UTC) - age)
    reader.http.cookies.clear()
    reader.http.cookies.set(admin_session.COOKIE, value, domain="127.0.0.1", path="/admin")


def test_every_admin_page_sends_a_visitor_to_the_login_page(site: Site) -> None:
    reader = site.reader()
    for path in (
        "/admin",
        "/admin/alerts/new",
        "/admin/alerts/1",
        "/admin/alerts/1/preview",
        "/admin/campaigns",
        "/admin/digest/preview",
        "/admin/digest/preview.html",
        "/admin/mail",
        "/admin/audit",
        "/admin/api",
        "/admin/api/openapi.json",
        "/admin/subscribers",
        "/admin/logout",
    ):
        response = reader.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/login"), path
        assert response.headers["cache-control"] == "no-store"
    for path in ("/admin/alerts", "/admin/alerts/1/approve", "/admin/subscribers"):
        response = reader.http.post(path, data={})
        assert response.status_code == 303, path
        assert response.headers["location"] == "/admin/login", path


def test_the_login_page_has_a_form_with_csrf_and_the_security_headers(site: Site) -> None:
    response = site.reader().get("/admin/login")
    assert response.status_code == 200
    for name in ("email", "password", "csrf_token", "next"):
        assert f'name="{name}"' in response.text
    assert 'autocomplete="current-password"' in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_right_password_opens_a_strict_httponly_session_for_the_admin_pages(site: Site) -> None:
    reader = site.reader()
    response = login(reader, " Amina@R2P.example ", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/admin"
    cookie = session_cookie(response.headers["set-cookie"])
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/;" in cookie
    assert f"Max-Age={int(site.settings.admin_session_max_age.total_seconds())}" in cookie
    assert "Secure" not in cookie  # base_url is http:// here
    dashboard = reader.get("/admin")
    assert dashboard.status_code == 200 and AMINA in dashboard.text
    assert ("amina@r2p.example", "login", "") in audit_actions(site)


def test_the_session_cookie_is_secure_when_the_site_is_served_over_https(
    tmp_path: Path,
) -> None:
    for base_url, secure in (("https://news.r2p.example", True), ("http://127.0.0.1", False)):
        response = Response()
        admin_session.set_cookie(response, "value", make_settings(tmp_path, base_url=base_url))
        assert ("Secure" in session_cookie(response.headers["set-cookie"])) is secure


def test_a_wrong_password_and_an_unknown_account_get_the_same_answer(site: Site) -> None:
    reader = site.reader()
    answers = []
    for email in (AMINA, "nobody@r2p.example"):
        response = login(reader, email, "not the password at all")
        assert response.status_code == 401
        assert WRONG in response.text
        assert "r2p_admin" not in response.headers.get("set-cookie", "")
        text = response.text.replace(email, "EMAIL")
        answers.append(re.sub(r'name="csrf_token" value="[^"]+"', "", text))
    assert answers[0] == answers[1]
    actions = audit_actions(site)
    assert ("anonymous", "login.failed", AMINA) in actions
    assert ("anonymous", "login.failed", "nobody@r2p.example") in actions


def test_wrong_passwords_are_rate_limited_per_account(site: Site) -> None:
    reader = site.reader()
    for _ in range(site.settings.login_rate_limit):
        assert login(reader, AMINA, "guess-guess-guess").status_code == 401
    # Even the right password is refused now: the attacker learns nothing either way.
    limited = login(reader, AMINA, PASSWORD)
    assert limited.status_code == 429
    assert "Too many login attempts" in limited.text
    assert "r2p_admin" not in limited.headers.get("set-cookie", "")
    # Another admin on the same network can still log in.
    assert login(reader, BRUNO, PASSWORD).status_code == 303


def test_logins_are_rate_limited_per_network_across_accounts(db: Db) -> None:
    with admin_site(db, AMINA, login_rate_limit=1) as site:
        reader = site.reader()
        per_network = 4 * site.settings.login_rate_limit
        for n in range(per_network):
            assert login(reader, f"guess{n}@r2p.example", "x" * 12).status_code == 401
        assert login(reader, AMINA, PASSWORD).status_code == 429


def test_a_login_without_its_csrf_token_is_refused(site: Site) -> None:
    reader = site.reader()
    reader.get("/admin/login")
    response = reader.http.post("/admin/login", data={"email": AMINA, "password": PASSWORD})
    assert response.status_code == 400
    assert "This form was open too long" in response.text
    assert "r2p_admin" not in response.headers.get("set-cookie", "")
    forged = login(reader, AMINA, PASSWORD, csrf_token="forged")
    assert forged.status_code == 400
    assert audit_actions(site) == []  # refused before any password was checked


def test_an_expired_session_sends_the_admin_back_to_log_in(site: Site) -> None:
    reader = log_in(site)
    age_session(site, reader, site.settings.admin_session_max_age + timedelta(minutes=1))
    response = reader.get("/admin/campaigns")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=%2Fadmin%2Fcampaigns&expired=1"
    assert 'r2p_admin=""' in response.headers["set-cookie"]
    page = reader.get(response.headers["location"])
    assert "Your session has expired. Please log in again." in page.text
    assert 'name="next" value="/admin/campaigns"' in page.text
    again = login(reader, AMINA, PASSWORD, next="/admin/campaigns")
    assert again.headers["location"] == "/admin/campaigns"


def test_a_session_just_inside_its_lifetime_still_works(site: Site) -> None:
    reader = log_in(site)
    age_session(site, reader, site.settings.admin_session_max_age - timedelta(minutes=1))
    assert reader.get("/admin").status_code == 200


def test_a_forged_or_tampered_session_cookie_is_no_session(site: Site) -> None:
    reader = log_in(site)
    value = reader.http.cookies.get(admin_session.COOKIE)
    assert value
    for bad in (value[:-2] + "xx", "eyJhIjoxfQ.forged", "x" * 600):
        reader.http.cookies.clear()
        reader.http.cookies.set(admin_session.COOKIE, bad, domain="127.0.0.1", path="/admin")
        assert reader.get("/admin").status_code == 303


def test_a_password_change_or_deactivation_ends_existing_sessions(site: Site) -> None:
    reader = log_in(site)
    with site.factory() as session:
        admin = session.query(Admin).filter_by(email=AMINA).one()
        admin.password_hash = hash_password("a brand new password")
        session.commit()
    assert reader.get("/admin").status_code == 303
    reader = log_in(site, BRUNO)
    with site.factory() as session:
        session.query(Admin).filter_by(email=BRUNO).one().active = False
        session.commit()
    assert reader.get("/admin").status_code == 303
    assert login(site.reader(), BRUNO, PASSWORD).status_code == 401


def test_logging_out_ends_the_session_and_is_audited(site: Site) -> None:
    reader = log_in(site)
    assert reader.get("/admin/logout").status_code == 200
    response = reader.post("/admin/logout", {}, token_from="/admin")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?logged_out=1"
    assert 'r2p_admin=""' in response.headers["set-cookie"]
    assert "You are logged out." in reader.get(response.headers["location"]).text
    assert reader.get("/admin").status_code == 303
    assert audit_actions(site)[-1] == (AMINA, "logout", "")


def test_logging_out_ends_every_session_of_that_admin_even_a_copied_cookie(site: Site) -> None:
    reader = log_in(site)
    other_browser = log_in(site)
    copied = reader.http.cookies.get("r2p_admin", path="/")
    assert copied
    reader.post("/admin/logout", {}, token_from="/admin")
    assert other_browser.get("/admin").status_code == 303
    thief = site.reader()
    thief.http.cookies.set("r2p_admin", copied, path="/admin")
    response = thief.get("/admin")
    assert response.status_code == 303 and "expired=1" in response.headers["location"]
    assert log_in(site).get("/admin").status_code == 200  # logging in again works


def test_logging_out_needs_the_csrf_token(site: Site) -> None:
    reader = log_in(site)
    response = reader.http.post("/admin/logout", data={})
    assert response.status_code == 400
    assert reader.get("/admin").status_code == 200


@pytest.mark.parametrize(
    "next_path", ["https://evil.example/", "//evil.example/admin", "/subscribe", "/admin/../x"]
)
def test_after_login_it_only_ever_goes_to_an_admin_page(site: Site, next_path: str) -> None:
    response = login(site.reader(), AMINA, PASSWORD, next=next_path)
    assert response.headers["location"] == "/admin"


def test_an_admin_who_is_logged_in_skips_the_login_page(site: Site) -> None:
    reader = log_in(site)
    response = reader.get("/admin/login?next=/admin/audit")
    assert response.status_code == 303 and response.headers["location"] == "/admin/audit"


def test_passwords_never_reach_the_logs(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reader = site.reader()
    login(reader, AMINA, "wrong-password-in-logs?")
    login(reader, AMINA, PASSWORD)
    assert "wrong-password-in-logs?" not in caplog.text
    assert PASSWORD not in caplog.text
    assert "admin login failed" in caplog.text
