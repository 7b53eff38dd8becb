"""End to end in Debian's Chromium: an admin logs in, composes an alert, previews it,
sends a test to themself, approves, and watches the page refresh itself until the alert
is sent, while a real SMTP server on loopback receives one message per alert subscriber
and none for anyone else. The app runs with its in-process scheduler and worker, as
`r2p-mailer run` does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI

from service.app import create_app
from tests.conftest import Db
from tests.support.browser import Site, chromium_page, require_chromium, serve
from tests.support.factories import AMINA, PASSWORD, add_admins, add_item, add_readers, add_source
from tests.support.smtpserver import SMTPServer

if TYPE_CHECKING:  # playwright may be missing: the tests then skip (or fail in CI)
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

SUBJECT = "Imminent risk of mass atrocities in El Fasher"
ALERT_READERS = ["sudan@example.org", "everything@example.org", "myanmar@example.org"]
OTHERS = ["digest-only@example.org", "pending@example.org", "left@example.org"]


@pytest.fixture
def site(db: Db, smtp_server: SMTPServer) -> Iterator[Site]:
    """The app with its scheduler and delivery worker, mailing the loopback SMTP server."""
    require_chromium()
    add_readers(db, ALERT_READERS[:1], topics=["sudan"])
    add_readers(db, ALERT_READERS[1:2], topics=[])
    add_readers(db, ALERT_READERS[2:], topics=["myanmar"])
    add_readers(db, OTHERS[:1], wants_alerts=False)
    add_readers(db, OTHERS[1:2], status="pending")
    add_readers(db, OTHERS[2:], status="unsubscribed")
    add_admins(db, AMINA)

    def make_app(url: str) -> FastAPI:
        settings = db.settings(base_url=url, smtp_url=smtp_server.url, poll_every="1h")
        return create_app(settings, with_services=True)

    with serve(make_app) as server:
        yield Site(server, server.app.state.settings, server.app.state.factory)


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    with chromium_page(site.url) as page:
        yield page


def log_in(page: Page) -> None:
    page.goto("/admin")
    page.get_by_role("heading", name="Log in").wait_for()
    page.get_by_label("Email address").fill(AMINA)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()


def test_an_admin_composes_tests_approves_and_watches_an_alert_go_out(
    site: Site, page: Page, smtp_server: SMTPServer
) -> None:
    log_in(page)
    page.get_by_role("link", name="New alert").first.click()
    page.get_by_label("Subject").fill(SUBJECT)
    page.get_by_label("Message").fill(
        "Civilians are trapped in El Fasher.\n\nThe Security Council must act now."
    )
    page.get_by_label("Link").fill("https://example.org/el-fasher")
    assert page.get_by_role("radio", name="Every alert subscriber").is_checked()
    assert not page.get_by_role("checkbox", name="Sudan").is_visible()
    page.get_by_role("button", name="Save draft and preview").click()

    page.get_by_text("Draft saved.").wait_for()
    assert page.get_by_text("3 readers would get it now.").is_visible()
    assert page.get_by_text("(in 11 h 59 min)").is_visible()
    preview = page.frame_locator("iframe.email-frame")
    preview.get_by_role("heading", name=SUBJECT).wait_for()
    assert preview.get_by_text("The Security Council must act now.", exact=True).is_visible()

    page.get_by_role("button", name="Send a test to me").click()
    page.get_by_text("A test is on its way to you.").wait_for()
    [test] = smtp_server.handler.to(AMINA)
    assert test.message["Subject"] == f"[TEST] Urgent: {SUBJECT}"
    assert not any(smtp_server.handler.to(a) for a in ALERT_READERS)

    page.get_by_role("link", name="Approve…").click()
    page.get_by_role("heading", name="Send to 3 readers now?").wait_for()
    page.get_by_role("button", name="Yes, send to 3 readers now").click()
    page.get_by_text("Approved: the alert is going out now.").wait_for()
    # No reload from here: the page refreshes itself until the progress reaches "sent".
    page.locator(".pill-done", has_text="Sent").wait_for(timeout=30_000)
    assert page.locator(".count-sent .count-n").inner_text() == "3"
    assert page.locator(".count-failed .count-n").inner_text() == "0"

    for address in ALERT_READERS:
        [received] = smtp_server.handler.to(address)
        assert received.message["Subject"] == f"Urgent: {SUBJECT}"
        assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for address in OTHERS:
        assert smtp_server.handler.to(address) == []
    assert len(smtp_server.handler.to(AMINA)) == 1  # the test, nothing more

    page.get_by_role("link", name="Audit log").click()
    for action in ("login", "alert.create", "alert.test", "alert.approve"):
        assert page.locator(".action", has_text=action).count() >= 1


def test_the_topic_picker_shows_only_when_the_alert_is_for_some_topics(
    site: Site, page: Page
) -> None:
    log_in(page)
    page.goto("/admin/alerts/new")
    page.get_by_role("radio", name="Only readers of these topics").check()
    page.get_by_role("checkbox", name="Sudan").check()
    page.get_by_label("Subject").fill(SUBJECT)
    page.get_by_label("Message").fill("Civilians are trapped.")
    page.get_by_role("button", name="Save draft and preview").click()
    page.get_by_text("Readers of Sudan, and readers who follow everything").wait_for()
    assert page.get_by_text("2 readers would get it now.").is_visible()


def test_an_alert_starts_from_a_suggestion_on_the_dashboard(site: Site, page: Page, db: Db) -> None:
    add_item(db, add_source(db), "Special Adviser warns of genocide risk in Darfur")
    log_in(page)
    page.get_by_role("link", name="Start an alert from this").first.click()
    assert page.get_by_label("Subject").input_value() == (
        "Special Adviser warns of genocide risk in Darfur"
    )


@pytest.mark.parametrize("width", [375, 1280])
def test_the_admin_pages_fit_the_screen_and_label_every_field(
    site: Site, page: Page, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page)
    page.goto("/admin/alerts/new")
    page.get_by_label("Subject").fill(SUBJECT)
    page.get_by_label("Message").fill("Civilians are trapped.")
    page.get_by_role("button", name="Save draft and preview").click()
    page.get_by_text("Draft saved.").wait_for()
    alert = page.url.split("?")[0]
    for url in (
        "/admin",
        "/admin/alerts/new",
        alert,
        "/admin/campaigns",
        "/admin/subscribers",
        "/admin/subscribers/1",
        "/admin/subscribers/1/remove",
        "/admin/subscribers/import",
        "/admin/mail",
        "/admin/audit",
        "/admin/api",
    ):
        page.goto(url)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow == 0, url
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(e => !(e.labels && e.labels.length))
               .map(e => e.name)"""
        )
        assert unlabelled == [], url


def test_on_a_phone_every_section_of_the_navigation_is_in_sight(site: Site, page: Page) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    log_in(page)
    nav = page.locator("nav.admin-nav ul")
    assert nav.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert nav.evaluate("e => e.scrollWidth") <= 375
    for name in ("Dashboard", "Subscribers", "Mail", "Audit log", "API"):
        box = page.locator("nav.admin-nav").get_by_role("link", name=name).bounding_box()
        assert box is not None, name
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, name


def test_an_admin_finds_a_reader_by_part_of_their_address_and_edits_their_topics(
    site: Site, page: Page
) -> None:
    log_in(page)
    page.locator("nav.admin-nav").get_by_role("link", name="Subscribers").click()
    page.get_by_label("Address contains").fill("sudan")
    page.get_by_role("button", name="Find").click()
    page.get_by_text("1 reader found").wait_for()
    page.get_by_role("link", name="sudan@example.org").click()
    page.get_by_role("heading", name="sudan@example.org").wait_for()
    assert page.get_by_text("urgent alerts on: Sudan.").is_visible()
    page.get_by_role("checkbox", name="Myanmar").check()
    page.get_by_role("button", name="Save choices").click()
    page.get_by_text("Their choices are saved.").wait_for()
    assert page.get_by_text("urgent alerts on: Myanmar, Sudan.").is_visible()
    page.get_by_role("link", name="Audit log").click()
    assert page.locator(".action", has_text="subscriber.choices").count() == 1
