"""Logging in with a second factor: the right password leads only to the code page; the
right code (by the app's clock, frozen here) makes the session, once; a recovery code works
once; wrong codes count as failed logins; R2P_ADMIN_REQUIRE_2FA sends the unenrolled to
enrolment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from tests.conftest import Db
from tests.support.accounts import FROZEN, code_at, enrol
from tests.support.browser import Reader, Site
from tests.support.console import admin_site, audit_actions, login
from tests.support.factories import AMINA, PASSWORD


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db) as site:
        site.server.app.state.clock = lambda: FROZEN
        yield site


def password_step(site: Site) -> Reader:
    reader = site.reader()
    response = login(reader, AMINA, PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login/code"
    return reader


def code_step(reader: Reader, code: str) -> httpx.Response:
    return reader.post("/admin/login/code", {"code": code}, token_from="/admin/login/code")


def test_the_password_alone_opens_no_page(db: Db, site: Site) -> None:
    enrol(db, AMINA)
    reader = password_step(site)
    assert reader.get("/admin").status_code == 303
    assert reader.get("/admin/login/code").status_code == 200


def test_the_right_code_logs_in_once(db: Db, site: Site) -> None:
    secret, _ = enrol(db, AMINA)
    reader = password_step(site)
    response = code_step(reader, code_at(secret, FROZEN))
    assert response.status_code == 303 and response.headers["location"] == "/admin"
    assert reader.get("/admin").status_code == 200
    again = password_step(site)
    refused = code_step(again, code_at(secret, FROZEN))
    assert refused.status_code == 401
    assert "used already" in refused.text
    assert audit_actions(site)[-3:] == [
        (AMINA, "login", ""),
        (AMINA, "login.password", ""),
        ("anonymous", "login.failed", AMINA),
    ]


def test_the_code_is_checked_against_the_app_s_clock(db: Db, site: Site) -> None:
    secret, _ = enrol(db, AMINA)
    reader = password_step(site)
    later = code_at(secret, FROZEN + timedelta(seconds=90))
    assert code_step(reader, later).status_code == 401
    site.server.app.state.clock = lambda: FROZEN + timedelta(seconds=90)
    assert code_step(reader, later).status_code == 303


def test_a_recovery_code_logs_in_once(db: Db, site: Site) -> None:
    _, codes = enrol(db, AMINA)
    assert code_step(password_step(site), codes[3]).status_code == 303
    assert code_step(password_step(site), codes[3]).status_code == 401


def test_wrong_codes_count_as_failed_logins(db: Db, site: Site) -> None:
    enrol(db, AMINA)
    reader = password_step(site)
    for _ in range(site.settings.login_rate_limit):
        assert code_step(reader, "999999").status_code == 401
    assert code_step(reader, "999999").status_code == 429


def test_the_code_page_without_the_password_step_sends_to_log_in(site: Site) -> None:
    reader = site.reader()
    response = reader.get("/admin/login/code")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login")


def test_required_2fa_sends_an_unenrolled_admin_to_enrol(db: Db) -> None:
    with admin_site(db, admin_require_2fa=True) as site:
        reader = site.reader()
        assert login(reader, AMINA, PASSWORD).status_code == 303
        for path in ("/admin", "/admin/subscribers", "/admin/accounts"):
            response = reader.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/admin/account/2fa"
        assert reader.get("/admin/account/2fa").status_code == 200
