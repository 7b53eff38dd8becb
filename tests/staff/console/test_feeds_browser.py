"""In Debian's Chromium: an admin adds a loopback feed from the console and polls it, and
corrects an item's relevance and sees the next digest's preview follow it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.conftest import Db
from tests.support.browser import Site, chromium_page, require_chromium
from tests.support.console import admin_site
from tests.support.factories import AMINA, PASSWORD, add_item, add_source
from tests.support.feedserver import FeedServer

if TYPE_CHECKING:  # playwright may be missing: the tests then skip (or fail in CI)
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

WRONG = "Genocide film wins a festival prize"
MISSED = "Militias burn villages near Tawila"
KEPT = "Killings reported in El Fasher"


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    require_chromium()
    with admin_site(db, allow_private_feeds=True) as site:
        yield site


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    with chromium_page(site.url) as page:
        page.goto("/admin")
        page.get_by_label("Email address").fill(AMINA)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Dashboard").wait_for()
        yield page


def test_an_admin_adds_a_loopback_feed_and_polls_it(page: Page, feed_server: FeedServer) -> None:
    url = feed_server.serve_file("/un-news.xml", "un-news/all.xml")
    page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Feeds").click()
    page.get_by_role("heading", name="Feeds", exact=True).wait_for()
    page.get_by_label("Short name").fill("local-un-news")
    page.get_by_label("Feed address").fill(url)
    page.get_by_label("Digest section").select_option("un-news")
    page.get_by_role("button", name="Add feed").click()

    page.get_by_text("The feed is added.").wait_for()
    assert page.get_by_role("heading", name="local-un-news").is_visible()
    assert page.get_by_text("Not polled yet.").is_visible()
    page.get_by_role("button", name="Poll now").click()
    page.get_by_text("Polled just now: 8 new items of 8 in the feed.").wait_for()
    assert page.get_by_text("Working.").is_visible()
    assert page.locator(".pill-ok").is_visible()
    assert len(feed_server.requests_to("/un-news.xml")) == 1

    page.get_by_role("link", name="See its items").click()
    page.get_by_text("8 items found").wait_for()
    fasher = page.locator("li.item", has_text="El Fasher killings")
    assert fasher.locator(".reason", has_text="Crimes against humanity").is_visible()


def test_an_editors_correction_is_followed_by_the_next_digest_preview(
    site: Site, db: Db, page: Page
) -> None:
    source = add_source(db, "un-news", title="UN News")
    now = datetime.now(UTC)
    add_item(db, source, KEPT, published_at=now - timedelta(hours=2))
    add_item(db, source, WRONG, published_at=now - timedelta(hours=3))
    add_item(
        db,
        source,
        MISSED,
        published_at=now - timedelta(hours=4),
        tags={"crimes": [], "countries": ["sudan"], "r2p": False, "matched": {"sudan": "Tawila"}},
        relevant=False,
    )

    def preview() -> str:
        page.goto("/admin/digest/preview")
        frame = page.frame_locator("iframe.email-frame")
        frame.locator("a", has_text=KEPT).first.wait_for()
        return frame.locator("body").inner_text()

    before = preview()
    assert WRONG in before and MISSED not in before

    page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Items").click()
    wrong = page.locator("li.item", has_text=WRONG)
    wrong.get_by_role("button", name=f"Not relevant: {WRONG}").click()
    page.get_by_text("Marked not relevant: the next digest leaves it out.").wait_for()
    assert wrong.get_by_text(f"marked by {AMINA}").is_visible()
    missed = page.locator("li.item", has_text=MISSED)
    assert missed.locator(".reason", has_text="Tawila").is_visible()
    missed.get_by_role("button", name=f"Relevant: {MISSED}").click()
    page.get_by_text("Marked relevant: the next digest carries it.").wait_for()

    after = preview()
    assert WRONG not in after and MISSED in after and KEPT in after
