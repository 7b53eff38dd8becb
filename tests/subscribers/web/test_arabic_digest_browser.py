"""End to end in Debian's Chromium, in Arabic: a reader signs up on the Arabic page (right
to left), confirms from the Arabic confirmation email received by a real SMTP server, and
after UN News in Arabic (a fixture feed on loopback) is polled, receives an Arabic digest
whose stories all come from the Arabic feed, none from its English twin."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from jobs.poll import poll_sources
from mailer import i18n
from mailer.digest import create_digest, plan_digest
from mailer.feeds.registry import SourceSpec, add_source
from tests.conftest import Db
from tests.subscribers.web.test_browser import deliver_over_smtp
from tests.support.browser import (
    Site,
    chromium_page,
    link_in,
    parse,
    require_chromium,
    running_site,
)
from tests.support.feedserver import FeedServer
from tests.support.smtpserver import SMTPServer

if TYPE_CHECKING:  # playwright may be missing: the tests then skip (or fail in CI)
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

ADDRESS = "layla@example.org"


@pytest.fixture
def site(db: Db, smtp_server: SMTPServer, feed_server: FeedServer) -> Iterator[Site]:
    require_chromium()
    with db.session() as session:
        for key, name, language in (
            ("un-news-all", "un-news/all.xml", "en"),
            ("un-news-all-ar", "un-news-languages/ar.xml", "ar"),
        ):
            url = feed_server.serve_this_weeks(f"/{key}", name)
            spec = SourceSpec(key=key, url=url, section="un-news", language=language)
            add_source(spec, allow_private=True, session=session)
        session.commit()
    with running_site(lambda url: db.settings(base_url=url, smtp_url=smtp_server.url)) as site:
        yield site


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    with chromium_page(site.url) as page:
        yield page


def arabic(message: str) -> str:
    with i18n.use_language("ar"):
        translated = i18n.gettext(message)
    assert translated != message, f"no Arabic for {message!r}"
    return translated


def in_a_thread(work: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine on another thread: Playwright owns this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work).result()


def stories_title(body: str) -> str:
    """The first story's title in a digest's HTML."""
    found = re.search(r"<h3[^>]*><a [^>]*>([^<]+)</a>", body)
    assert found
    return found.group(1)


def test_an_arabic_reader_signs_up_confirms_and_gets_an_arabic_digest(
    site: Site, page: Page, smtp_server: SMTPServer
) -> None:
    page.goto("/?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "ar"
    page.locator("#email").fill(ADDRESS)
    page.locator("#language").select_option("ar")
    page.locator("#consent").check()
    page.get_by_role("button", name=arabic("Subscribe")).click()
    page.get_by_role("heading", name=arabic("Check your inbox")).wait_for()

    deliver_over_smtp(site, smtp_server)
    [received] = smtp_server.handler.to(ADDRESS)
    confirmation = parse(received.data)
    with i18n.use_language("ar"):
        assert re.search("[\u0600-\u06ff]", str(confirmation["Subject"]))
    page.goto(link_in(confirmation, "confirm"))
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.get_by_role("button", name=arabic("Confirm my subscription")).click()
    page.locator("#english").wait_for()  # the preferences page, the new choice on it
    reader = site.subscriber(ADDRESS)
    assert reader is not None and reader.status == "active" and reader.language == "ar"

    in_a_thread(poll_sources(site.settings, site.factory))
    with site.factory() as session:
        plan = plan_digest(now=datetime.now(UTC), session=session)
        campaign, queued, said = create_digest(plan, settings=site.settings, session=session)
        session.commit()
    assert campaign is not None and queued == 1, said
    deliver_over_smtp(site, smtp_server)
    digest = parse(smtp_server.handler.to(ADDRESS)[-1].data)
    assert digest["Subject"] != confirmation["Subject"]
    html = digest.get_body(("html",))
    assert html is not None
    body = str(html.get_content())
    assert re.search(r'<html lang="ar" dir="rtl"', body)
    assert arabic("R2P weekly digest") in body
    stories = re.findall(r'<h3[^>]*><a href="([^"]+)"', body)
    assert len(stories) == 3  # Sudan, Ukraine, the Rohingya (football and vaccines: no)
    assert all(url.startswith("https://news.un.org/ar/story/") for url in stories), stories
    assert "news.un.org/en/" not in body
    # The Arabic digest page opens from the mail, in Arabic too.
    on_the_web = re.findall(r'href="([^"]+/archive/digest:[^"]+)"', body)[-1]
    assert on_the_web.endswith("?lang=ar")
    response = page.goto(on_the_web)
    assert response is not None and response.ok
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.get_by_role("link", name=stories_title(body)).count() == 1
