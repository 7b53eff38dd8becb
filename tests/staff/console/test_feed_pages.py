"""/admin/feeds: health in plain words, adding a feed with the CLI's address checks, and
one feed's page: edit, disable, enable and poll now, each audited."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mailer.models import Source
from tests.conftest import Db
from tests.support.browser import Reader, Site
from tests.support.console import admin_site, audit_actions, log_in
from tests.support.factories import AMINA, add_source
from tests.support.feedserver import FeedServer

PAGE = "/admin/feeds"
RAW = "cannot connect: [Errno -2] Name or service not known <script>x</script>"


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db, allow_private_feeds=True) as site:
        yield site


def source(site: Site, key: str) -> Source:
    with site.factory() as session:
        found = session.query(Source).filter_by(key=key).one()
        session.expunge(found)
        return found


def add(reader: Reader, **fields: str) -> tuple[int, str]:
    response = reader.post(PAGE, fields, token_from=PAGE)
    return response.status_code, response.headers.get("location", response.text)


def test_health_is_in_plain_words_with_the_raw_error_escaped_for_staff(
    site: Site, db: Db, reader: Reader
) -> None:
    add_source(
        db,
        "un-news",
        title="UN News",
        url="https://news.un.org/feed/rss.xml",
        consecutive_failures=6,
        last_error=RAW,
        last_error_at=datetime.now(UTC) - timedelta(minutes=3),
    )
    add_source(db, "globalr2p", title="Global Centre", last_success_at=datetime.now(UTC))
    listing = reader.get(PAGE).text
    assert "1 of 2 feeds needs attention" in html.unescape(listing)
    assert (
        html.escape(
            "Cannot reach news.un.org: name not found; offline or wrong URL? (failed 6 times"
        )
        in listing
    )
    assert "Working." in listing and "<script>x" not in listing
    one = reader.get(f"{PAGE}/un-news").text
    assert html.escape(RAW, quote=False) in one and "<script>x" not in one
    assert "The error as recorded" in one


def test_adding_a_feed_applies_the_clis_address_checks(db: Db) -> None:
    with admin_site(db, allow_private_feeds=False) as site:
        reader = log_in(site)
        status, page = add(reader, key="local", url="http://127.0.0.1:9/feed.xml")
        assert status == 400
        assert "private, loopback or reserved address" in page and 'value="local"' in page
        status, page = add(reader, key="ftp", url="ftp://example.org/feed.xml")
        assert status == 400 and "only http:// and https:// feeds are fetched" in page
        status, page = add(reader, key="Bad Key", url="https://example.org/feed.xml")
        assert status == 400 and "is not a valid source key" in page
        assert add(reader, key="ok", url="https://example.org/feed.xml") == (
            303,
            f"{PAGE}/ok?done=added",
        )
        status, page = add(reader, key="ok", url="https://example.org/other.xml")
        assert status == 400 and "a source &#39;ok&#39; already exists" in page
        assert audit_actions(site)[-1] == (AMINA, "feed.add", "ok")


def test_a_feed_is_edited_disabled_enabled_and_polled_with_the_result_shown(
    site: Site, reader: Reader, feed_server: FeedServer
) -> None:
    url = feed_server.serve_file("/all.xml", "un-news/all.xml")
    # "Poll now" answers once the poll is over: its first parse starts the parser's fork
    # server, which takes seconds on a busy machine.
    reader.http.timeout = httpx.Timeout(60)
    assert add(reader, key="local-news", url=feed_server.url("/missing.xml"))[0] == 303
    page = f"{PAGE}/local-news"

    polled = reader.post(f"{page}/poll", {}, token_from=page)
    assert polled.status_code == 303
    shown = html.unescape(reader.get(polled.headers["location"]).text)
    assert "Polled just now: it failed." in shown
    assert "127.0.0.1 has no feed at this address (HTTP 404 Not Found): check the URL" in shown

    edited = reader.post(
        f"{page}/edit",
        {"url": url, "title": "Local news", "section": "un-news", "language": "en"},
        token_from=page,
    )
    assert edited.headers["location"] == f"{page}?done=saved"
    assert (source(site, "local-news").url, source(site, "local-news").section) == (url, "un-news")
    same = reader.post(
        f"{page}/edit",
        {"url": url, "title": "Local news", "section": "un-news", "language": "en"},
        token_from=page,
    )
    assert same.headers["location"] == f"{page}?done=unchanged"

    polled = reader.post(f"{page}/poll", {}, token_from=page)
    shown = html.unescape(reader.get(polled.headers["location"]).text)
    assert "Polled just now: 8 new items of 8 in the feed." in shown
    assert "Working." in shown

    assert reader.post(f"{page}/disable", {}, token_from=page).status_code == 303
    assert not source(site, "local-news").enabled
    assert "Not polled: disabled by an admin." in reader.get(page).text
    assert reader.post(f"{page}/enable", {}, token_from=page).status_code == 303
    assert source(site, "local-news").enabled

    assert [a for _, a, t in audit_actions(site) if t == "local-news"] == [
        "feed.add",
        "feeds.poll",
        "feed.edit",
        "feeds.poll",
        "feed.disable",
        "feed.enable",
    ]


def test_a_stale_form_or_an_unknown_feed_changes_nothing(
    site: Site, db: Db, reader: Reader
) -> None:
    add_source(db, "un-news")
    stale = reader.post(f"{PAGE}/un-news/disable", {"csrf_token": "forged"})
    assert stale.status_code == 400 and source(site, "un-news").enabled
    assert reader.post(PAGE, {"key": "x", "url": "https://example.org/x.xml"}).status_code == 400
    assert reader.get(f"{PAGE}/nothing-here").status_code == 404
    assert reader.post(f"{PAGE}/nothing-here/disable", {}, token_from=PAGE).status_code == 404
    assert [a for _, a, _ in audit_actions(site) if a != "login"] == []
