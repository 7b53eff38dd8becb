"""End to end in Debian's Chromium: sign up on the form, read the confirmation from a real
SMTP server, confirm with the confirmation page's button, change preferences, unsubscribe
with the button; and a one-click POST to a received email's List-Unsubscribe URL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
import pytest

from jobs.deliver import DeliveryWorker
from mailer.sending.smtp import SMTPPool, parse_smtp_url
from tests.conftest import Db
from tests.support.browser import (
    Site,
    chromium_page,
    link_in,
    parse,
    require_chromium,
    running_site,
    unsubscribe_url,
)
from tests.support.smtpserver import SMTPServer

if TYPE_CHECKING:  # playwright may be missing: the tests then skip (or fail in CI)
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture
def site(db: Db, smtp_server: SMTPServer) -> Iterator[Site]:
    require_chromium()
    with running_site(lambda url: db.settings(base_url=url, smtp_url=smtp_server.url)) as site:
        yield site


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    with chromium_page(site.url) as page:
        yield page


def deliver_over_smtp(site: Site, server: SMTPServer) -> None:
    """The real worker and SMTP pool, run in a thread: Playwright owns this thread's loop."""
    worker = DeliveryWorker(site.settings, site.factory, SMTPPool(parse_smtp_url(server.url)))
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, worker.run(once=True)).result()


def sign_up_in_the_browser(page: Page, address: str, language: str = "en") -> None:
    page.goto("/")
    page.get_by_label("Email address").fill(address)
    page.get_by_role("checkbox", name="Urgent alerts").uncheck()
    page.get_by_role("radio", name="Only the topics I choose").check()
    page.get_by_role("checkbox", name="Genocide").check()
    page.get_by_role("checkbox", name="Sudan").check()
    page.locator("#language").select_option(language)
    page.get_by_role("checkbox", name="I want to receive").check()
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()


def test_a_reader_signs_up_confirms_changes_preferences_and_unsubscribes(
    site: Site, page: Page, smtp_server: SMTPServer
) -> None:
    page.goto("/")
    # The topic lists only show once the reader asks to choose.
    assert not page.get_by_role("checkbox", name="Sudan").is_visible()
    sign_up_in_the_browser(page, "Anna@Example.org", language="fr")
    pending = site.subscriber("anna@example.org")
    assert pending is not None and pending.status == "pending"
    assert pending.consent_user_agent and "Chrom" in pending.consent_user_agent

    deliver_over_smtp(site, smtp_server)
    [received] = smtp_server.handler.to("anna@example.org")
    confirmation = received.message
    # The mail and the pages it leads to are in the language chosen on the form.
    assert confirmation["Subject"] == "Veuillez confirmer votre abonnement aux nouvelles R2P"

    page.goto(link_in(confirmation, "confirm"))
    page.get_by_role("heading", name="Confirmez votre abonnement").wait_for()
    # Opening the link (as a mail gateway's scanner does) confirms nothing.
    assert site.subscriber("anna@example.org").status == "pending"  # type: ignore[union-attr]
    page.get_by_role("button", name="Confirmer mon abonnement").click()
    page.get_by_text("Merci\u00a0: votre abonnement est confirmé.").wait_for()
    assert page.get_by_role("checkbox", name="Soudan").is_checked()
    assert not page.get_by_role("checkbox", name="Alertes urgentes").is_checked()
    assert page.locator("#language").input_value() == "fr"

    page.get_by_role("checkbox", name="Alertes urgentes").check()
    page.get_by_role("checkbox", name="Myanmar").check()
    page.get_by_role("checkbox", name="Génocide").uncheck()
    page.locator("#language").select_option("en")
    page.get_by_role("button", name="Enregistrer mes choix").click()
    page.get_by_text("Your choices are saved.").wait_for()
    saved = site.subscriber("anna@example.org")
    assert saved is not None and saved.status == "active"
    assert (saved.wants_alerts, saved.topics, saved.language) == (True, ["myanmar", "sudan"], "en")

    page.goto(unsubscribe_url(confirmation))
    page.get_by_role("heading", name="Unsubscribe from R2P news?").wait_for()
    assert site.subscriber("anna@example.org").status == "active"  # type: ignore[union-attr]
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    gone = site.subscriber("anna@example.org")
    assert gone is not None and gone.status == "unsubscribed" and gone.unsubscribed_at


def test_a_one_click_post_to_a_received_list_unsubscribe_url_unsubscribes(
    site: Site, page: Page, smtp_server: SMTPServer
) -> None:
    sign_up_in_the_browser(page, "bob@example.org")
    deliver_over_smtp(site, smtp_server)
    [received] = smtp_server.handler.to("bob@example.org")
    message = parse(received.data)
    page.goto(link_in(message, "confirm"))
    page.get_by_role("button", name="Confirm my subscription").click()
    page.get_by_text("your subscription is confirmed").wait_for()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # What a mailbox provider sends: no cookie, no CSRF token, just the RFC 8058 body.
    response = httpx.post(unsubscribe_url(message), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    bob = site.subscriber("bob@example.org")
    assert bob is not None and bob.status == "unsubscribed"


@pytest.mark.parametrize("width", [375, 1280])
def test_the_pages_fit_the_screen_without_sideways_scrolling(
    site: Site, page: Page, smtp_server: SMTPServer, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_up_in_the_browser(page, "carol@example.org")
    deliver_over_smtp(site, smtp_server)
    [received] = smtp_server.handler.to("carol@example.org")
    for url in ("/", link_in(received.message, "confirm")):
        page.goto(url)
        if url != "/":  # the confirmation page, then the preferences page it leads to
            assert (
                page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                == 0
            )
            page.get_by_role("button", name="Confirm my subscription").click()
        page.get_by_role("radio", name="Only the topics I choose").check()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow == 0, url
        # Every field a reader can reach has a visible label (the honeypot is hidden).
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select')]
               .filter(e => !e.closest('[aria-hidden=true]'))
               .filter(e => !(e.labels && e.labels.length))
               .map(e => e.name)"""
        )
        assert unlabelled == [], url
