"""In Debian's Chromium, under the two-person rule: an admin writes an alert with a typo,
sends themself a test (whose unsubscribe link opens the test page, not an error), edits
the draft, approves it through the confirmation step; a second admin opens the review
screen, sees what changed and who did what, and sends it through the confirmation step
that states the audience, while a real SMTP server on loopback receives the alert."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI

from service.app import create_app
from tests.conftest import Db
from tests.support.browser import Site, chromium, require_chromium, serve, text_of
from tests.support.console import BRUNO, audit_actions
from tests.support.factories import AMINA, PASSWORD, add_admins, add_readers
from tests.support.smtpserver import SMTPServer
from tests.support.waiting import wait_until

if TYPE_CHECKING:  # playwright may be missing: the tests then skip (or fail in CI)
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

TYPO = "Imminent risk of mass atrocites in El Fasher"
FIXED = "Imminent risk of mass atrocities in El Fasher"
READERS = ["a@example.org", "b@example.org", "c@example.org"]


@pytest.fixture
def site(db: Db, smtp_server: SMTPServer) -> Iterator[Site]:
    require_chromium()
    add_readers(db, READERS)
    add_readers(db, ["digest-only@example.org"], wants_alerts=False)
    add_admins(db, AMINA, BRUNO)

    def make_app(url: str) -> FastAPI:
        settings = db.settings(
            base_url=url, smtp_url=smtp_server.url, poll_every="1h", alert_approvers=2
        )
        return create_app(settings, with_services=True)

    with serve(make_app) as server:
        yield Site(server, server.app.state.settings, server.app.state.factory)


@pytest.fixture
def browser(site: Site) -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def logged_in(browser: Browser, site: Site, email: str) -> Page:
    page = browser.new_context(base_url=site.url).new_page()
    page.goto("/admin")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    return page


def test_a_draft_is_edited_after_its_test_and_approved_by_two_admins_through_the_confirmation(
    site: Site, browser: Browser, smtp_server: SMTPServer
) -> None:
    amina = logged_in(browser, site, AMINA)
    amina.goto("/admin/alerts/new")
    amina.get_by_label("Subject").fill(TYPO)
    amina.get_by_label("Message").fill("Civilians are trapped.\n\nThe Council must act.")
    amina.get_by_role("button", name="Save draft and preview").click()
    amina.get_by_text("Draft saved.").wait_for()
    alert_url = amina.url.split("?")[0]

    amina.get_by_role("button", name="Send a test to me").click()
    amina.get_by_text("A test is on its way to you.").wait_for()
    [test] = smtp_server.handler.to(AMINA)
    assert test.message["Subject"] == f"[TEST] Urgent: {TYPO}"
    found = re.search(r"Unsubscribe: (\S+)", text_of(test.message))
    assert found, text_of(test.message)
    amina.goto(found.group(1))
    amina.get_by_role("heading", name="This link is from a test email").wait_for()
    amina.goto(alert_url)

    amina.get_by_role("link", name="Edit").click()
    amina.get_by_label("Subject").fill(FIXED)
    amina.get_by_role("button", name="Save changes").click()
    amina.get_by_text("Changes saved.").wait_for()
    assert amina.get_by_role("heading", name=FIXED).is_visible()

    amina.get_by_role("link", name="Approve…").click()
    amina.get_by_role("heading", name="Approve this alert?").wait_for()
    assert amina.get_by_text("It goes to 3 readers once another admin approves.").is_visible()
    amina.get_by_role("button", name="Yes, approve").click()
    amina.get_by_text("Your approval is recorded.").wait_for()
    assert amina.get_by_text("1 of 2 approvals; another admin must approve.").is_visible()
    assert not any(smtp_server.handler.to(address) for address in READERS)

    bruno = logged_in(browser, site, BRUNO)
    bruno.goto(alert_url)
    bruno.get_by_role("link", name="Review and approve…").click()
    bruno.get_by_role("heading", name=f"Since {AMINA} approved").wait_for()
    assert bruno.get_by_text("Nothing has changed since then.").is_visible()
    written = bruno.locator("section", has=bruno.locator("#since-written-title"))
    assert written.locator("del", has_text=TYPO).is_visible()
    assert written.locator("ins", has_text=FIXED).is_visible()
    history = bruno.locator("ol.history").inner_text()
    for said in ("Wrote the draft", f"Sent a test to {AMINA}", "Edited", "Approved"):
        assert said in history

    bruno.get_by_role("link", name="Approve…").click()
    bruno.get_by_role("heading", name="Send to 3 readers now?").wait_for()
    assert bruno.get_by_text(f"Urgent: {FIXED}").is_visible()
    bruno.get_by_role("button", name="Yes, send to 3 readers now").click()
    bruno.get_by_text("Approved: the alert is going out now.").wait_for()
    wait_until(
        lambda: all(smtp_server.handler.to(address) for address in READERS),
        30,
        message="the alert reaching its three readers",
    )
    [sent] = smtp_server.handler.to(READERS[0])
    assert sent.message["Subject"] == f"Urgent: {FIXED}"
    assert not smtp_server.handler.to("digest-only@example.org")
    actions = [action for _actor, action, _target in audit_actions(site)]
    for action in ("alert.create", "alert.test", "alert.edit", "alert.approve"):
        assert action in actions
