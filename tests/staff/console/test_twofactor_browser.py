"""In Debian's Chromium, with the app's clock frozen: an admin whom R2P_ADMIN_REQUIRE_2FA
sends to enrolment reads the key off the page (beside its QR code), confirms a code, gets
ten recovery codes, and then logs in with the password and a code, which is refused the
second time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from tests.conftest import Db
from tests.support.accounts import FROZEN, code_at
from tests.support.browser import Site, chromium_page, require_chromium
from tests.support.console import admin_site, audit_actions
from tests.support.factories import AMINA, PASSWORD

if TYPE_CHECKING:  # playwright may be missing: the tests then skip (or fail in CI)
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    require_chromium()
    with admin_site(db, admin_require_2fa=True) as site:
        site.server.app.state.clock = lambda: FROZEN
        yield site


def type_password(page: Page) -> None:
    page.goto("/admin")
    page.get_by_label("Email address").fill(AMINA)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_an_admin_enrols_a_second_factor_and_logs_in_with_a_code(site: Site) -> None:
    with chromium_page(site.url) as page:
        type_password(page)
        page.get_by_role("heading", name="Second factor").wait_for()
        page.get_by_role("button", name="Set up a second factor").click()
        assert page.locator(".qr svg").is_visible()
        secret = page.locator(".secret").inner_text().strip()
        page.get_by_label("The 6-digit code the app shows").fill(code_at(secret, FROZEN))
        page.get_by_role("button", name="Turn on").click()
        page.get_by_role("heading", name="Recovery codes").wait_for()
        assert page.locator(".recovery-codes li").count() == 10
        page.get_by_role("link", name="Continue to the dashboard").click()
        page.get_by_role("heading", name="Dashboard").wait_for()
        page.get_by_role("button", name="Log out").click()
        page.get_by_text("You are logged out.").wait_for()

        # The code of the enrolment's step was used: log in with the next one.
        site.server.app.state.clock = lambda: FROZEN + timedelta(seconds=30)
        code = code_at(secret, FROZEN + timedelta(seconds=30))
        type_password(page)
        page.get_by_role("heading", name="Your code").wait_for()
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Dashboard").wait_for()

        page.get_by_role("button", name="Log out").click()
        type_password(page)
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Log in").click()
        page.get_by_text("used already").wait_for()
    actions = [action for _actor, action, _target in audit_actions(site)]
    assert actions[:3] == ["login", "admin.2fa.start", "admin.2fa.enable"]
    assert actions.count("login.failed") == 1
