"""Polling real feed files served on loopback into a real database."""

from __future__ import annotations

import asyncio
import gzip
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from sqlalchemy import select

import jobs.poll
from jobs.poll import PollOutcome, poll_sources
from mailer.feeds.registry import SourceSpec, add_source, get_source
from mailer.models import Item, Source
from tests.conftest import Db
from tests.support.feedserver import FeedServer, gzip_bomb
from tests.support.waiting import wait_until


def add(db: Db, key: str, url: str, **kwargs: Any) -> None:
    with db.session() as session:
        add_source(SourceSpec(key=key, url=url, **kwargs), allow_private=True, session=session)
        session.commit()


def poll(db: Db, key: str | None = None, **settings: Any) -> dict[str, PollOutcome]:
    outcomes = asyncio.run(poll_sources(db.settings(**settings), db.factory, key=key))
    return {o.key: o for o in outcomes}


def items(db: Db) -> list[Item]:
    with db.session() as session:
        return list(session.scalars(select(Item).order_by(Item.id)))


def source(db: Db, key: str) -> Source:
    with db.session() as session:
        return get_source(key, session=session)


def by_url(db: Db) -> dict[str, Item]:
    return {item.url: item for item in items(db)}


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts real parses (each runs in its child process, which the counter wraps)."""
    calls: list[int] = []
    real = jobs.poll.prepare_isolated

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs.poll, "prepare_isolated", counting)
    return calls


def test_it_stores_un_news_items_under_their_canonical_story_urls(
    db: Db, feed_server: FeedServer
) -> None:
    add(db, "un-news-all", feed_server.serve_file("/all.xml", "un-news/all.xml"))
    outcome = poll(db)["un-news-all"]
    assert (outcome.status, outcome.new, outcome.seen) == ("new", 8, 8)
    stored = by_url(db)
    assert "https://news.un.org/en/story/2026/11/1166401" in stored
    assert not any("/feed/view/" in url for url in stored)
    item = stored["https://news.un.org/en/story/2026/11/1166401"]
    assert item.dedupe_key == "un-news:en:1166401"
    assert item.title == item.title.strip() and "  " not in item.title
    assert item.published_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_it_converts_new_york_dates_to_utc(db: Db, feed_server: FeedServer) -> None:
    add(db, "un-news-all", feed_server.serve_file("/all.xml", "un-news/all.xml"))
    poll(db)
    item = by_url(db)["https://news.un.org/en/story/2026/11/1166408"]
    # Fri, 20 Nov 2026 17:42:09 -0500
    assert item.published_at.isoformat() == "2026-11-20T22:42:09+00:00"


def test_it_stores_a_story_carried_by_two_un_news_feeds_once(
    db: Db, feed_server: FeedServer
) -> None:
    add(db, "all", feed_server.serve_file("/all.xml", "un-news/all.xml"))
    add(db, "peace", feed_server.serve_file("/peace.xml", "un-news/peace-and-security.xml"))
    outcomes = poll(db)
    assert outcomes["all"].new + outcomes["peace"].new == 9
    keys = [item.dedupe_key for item in items(db)]
    assert len(keys) == len(set(keys)) == 9


def test_it_treats_a_press_release_and_its_live_blog_as_one_meeting(
    db: Db, feed_server: FeedServer
) -> None:
    add(db, "un-press", feed_server.serve_file("/press.xml", "un-press/rss.xml"))
    outcome = poll(db)["un-press"]
    assert (outcome.seen, outcome.new) == (5, 4)
    symbols = [item.dedupe_key for item in items(db) if item.dedupe_key == "un-press:sc16444"]
    assert symbols == ["un-press:sc16444"]
    assert {item.author for item in items(db)} >= {"Security Council", "General Assembly"}


def test_repolling_an_unchanged_feed_stores_and_parses_nothing(
    db: Db, feed_server: FeedServer, parse_calls: list[int]
) -> None:
    add(db, "un-press", feed_server.serve_file("/press.xml", "un-press/rss.xml"))
    poll(db)
    assert len(parse_calls) == 1
    second = poll(db)["un-press"]
    assert second.status == "unchanged" and second.new == 0
    assert len(parse_calls) == 1
    assert len(items(db)) == 4
    conditional = feed_server.requests_to("/press.xml")[-1].headers
    assert conditional["If-None-Match"].startswith('"')
    assert conditional["If-Modified-Since"] == "Mon, 16 Nov 2026 20:00:00 GMT"


def test_a_server_without_validators_is_recognised_by_the_body_hash(
    db: Db, feed_server: FeedServer, parse_calls: list[int]
) -> None:
    add(db, "gc", feed_server.serve_file("/gc.xml", "globalr2p/feed.xml", validators=False))
    poll(db)
    assert poll(db)["gc"].status == "unchanged"
    assert len(parse_calls) == 1
    assert len(items(db)) == 4


def test_global_centre_items_are_always_relevant(db: Db, feed_server: FeedServer) -> None:
    add(db, "gc", feed_server.serve_file("/gc.xml", "globalr2p/feed.xml"), always_relevant=True)
    poll(db)
    stored = items(db)
    assert len(stored) == 4 and all(item.relevant for item in stored)
    vacancy = next(item for item in stored if "vacancy" in item.title.lower())
    assert vacancy.tags["crimes"] == [] and vacancy.tags["countries"] == []
    alert = next(item for item in stored if item.title.startswith("Atrocity Alert"))
    # WordPress guids (?p=ID) are not permalinks: the link is the URL.
    assert alert.url == "https://www.globalr2p.org/publications/atrocity-alert-no-430/"
    assert alert.uid == "https://www.globalr2p.org/?p=21430"
    assert {"sudan", "myanmar", "haiti"} <= set(alert.tags["countries"])
    assert "<p>" not in alert.summary_text and alert.summary_text


def test_items_are_tagged_for_relevance(db: Db, feed_server: FeedServer) -> None:
    add(db, "all", feed_server.serve_file("/all.xml", "un-news/all.xml"))
    poll(db)
    stored = {item.url.rsplit("/", 1)[1]: item for item in items(db)}
    assert set(stored["1166401"].tags["crimes"]) == {"crimes-against-humanity", "ethnic-cleansing"}
    assert "sudan" in stored["1166401"].tags["countries"]
    assert stored["1166405"].tags["r2p"] is True
    assert stored["1166406"].tags["countries"] == ["israel-opt"]
    assert stored["1166407"].tags["countries"] == ["dr-congo"]
    assert not stored["1166404"].relevant and not stored["1166408"].relevant
    ngo = stored["1166403"]
    assert ngo.tags["r2p"] is False and ngo.tags["crimes"] == []
    assert ngo.tags["source"] == "all"


def test_a_permanent_redirect_updates_the_stored_url(db: Db, feed_server: FeedServer) -> None:
    new_url = feed_server.serve_file("/new.xml", "un-press/rss.xml")

    def moved(request: BaseHTTPRequestHandler) -> None:
        request.send_response(301)
        request.send_header("Location", "/new.xml")
        request.send_header("Content-Length", "0")
        request.end_headers()

    add(db, "press", feed_server.serve("/old.xml", moved))
    assert poll(db)["press"].new == 4
    assert source(db, "press").url == new_url


def test_a_temporary_redirect_keeps_the_stored_url(db: Db, feed_server: FeedServer) -> None:
    feed_server.serve_file("/new.xml", "un-press/rss.xml")

    def moved(request: BaseHTTPRequestHandler) -> None:
        request.send_response(302)
        request.send_header("Location", "/new.xml")
        request.send_header("Content-Length", "0")
        request.end_headers()

    old = feed_server.serve("/old.xml", moved)
    add(db, "press", old)
    assert poll(db)["press"].new == 4
    assert source(db, "press").url == old


def status_handler(code: int) -> Any:
    def handler(request: BaseHTTPRequestHandler) -> None:
        body = b"<html><body>error</body></html>"
        request.send_response(code)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handler


def test_410_gone_disables_the_source(db: Db, feed_server: FeedServer) -> None:
    add(db, "old", feed_server.serve("/gone.xml", status_handler(410)))
    assert poll(db)["old"].status == "gone"
    gone = source(db, "old")
    assert not gone.enabled and "410" in (gone.disabled_reason or "")
    assert poll(db) == {}


def test_an_http_500_is_recorded_and_the_other_feeds_still_ingest(
    db: Db, feed_server: FeedServer
) -> None:
    add(db, "broken", feed_server.serve("/500.xml", status_handler(500)))
    add(db, "press", feed_server.serve_file("/press.xml", "un-press/rss.xml"))
    outcomes = poll(db)
    poll(db, key="broken")
    assert outcomes["broken"].status == "failed" and "HTTP 500" in outcomes["broken"].message
    assert outcomes["press"].new == 4
    broken = source(db, "broken")
    assert broken.consecutive_failures == 2 and "HTTP 500" in (broken.last_error or "")
    assert broken.last_success_at is None
    assert source(db, "press").last_success_at is not None


def test_a_200_with_no_items_is_recorded_as_an_empty_answer(
    db: Db, feed_server: FeedServer
) -> None:
    add(db, "empty", feed_server.serve_file("/empty.xml", "bad/empty.xml", validators=False))
    outcome = poll(db)["empty"]
    assert outcome.status == "new" and outcome.seen == 0
    assert "0 items" in outcome.message
    empty = source(db, "empty")
    assert empty.empty_responses == 1 and empty.last_empty_at is not None


def test_malformed_xml_keeps_what_parses_and_warns(
    db: Db, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The warning is the poll job's (jobs.poll); set its level, whatever an earlier CLI
    # run in this process did to the logging configuration.
    caplog.set_level(logging.WARNING, logger="jobs.poll")
    add(db, "bad", feed_server.serve_file("/bad.xml", "bad/malformed.xml"))
    outcome = poll(db)["bad"]
    assert outcome.status == "new" and "malformed" in outcome.message
    urls = set(by_url(db))
    assert {"https://example.org/malformed/1", "https://example.org/malformed/2"} <= urls
    assert any("malformed feed" in r.getMessage() for r in caplog.records)
    assert "malformed" in (source(db, "bad").last_error or "")


def test_a_page_that_is_not_a_feed_fails_clearly(db: Db, feed_server: FeedServer) -> None:
    add(
        db, "html", feed_server.serve_file("/page", "bad/not-a-feed.html", content_type="text/html")
    )
    outcome = poll(db)["html"]
    assert outcome.status == "failed" and "not an RSS or Atom feed" in outcome.message


def test_hostile_html_is_sanitised_and_good_content_kept(db: Db, feed_server: FeedServer) -> None:
    add(db, "evil", feed_server.serve_file("/evil.xml", "bad/hostile.xml"))
    poll(db)
    stored = items(db)
    assert len(stored) == 2
    for item in stored:
        for field in (item.title, item.summary_html, item.summary_text):
            lowered = field.lower()
            for bad in (
                "<script",
                "onerror=",
                "onclick=",
                "onload=",
                "onmouseover=",
                "javascript:",
                "<form",
                "<input",
                "<iframe",
                "<style",
                "<svg",
                "<object",
                "<embed",
                "data:",
                "alert(",
            ):
                assert bad not in lowered, (bad, field)
        assert '<a href="https://www.un.org/en/genocideprevention/"' in item.summary_html
        assert "Keep this link." in item.summary_text
    assert stored[0].title.startswith("Bold")


def test_entity_declarations_are_refused_without_parsing(db: Db, feed_server: FeedServer) -> None:
    add(db, "lol", feed_server.serve_file("/lol.xml", "bad/billion-laughs.xml"))
    add(db, "xxe", feed_server.serve_file("/xxe.xml", "bad/xxe.xml"))
    outcomes = poll(db)
    for key in ("lol", "xxe"):
        assert outcomes[key].status == "failed"
        assert "declares XML entities" in outcomes[key].message
        assert "refused without parsing" in outcomes[key].message
    assert items(db) == []


def test_entries_without_guid_link_or_date_are_kept_with_stable_ids(
    db: Db, feed_server: FeedServer
) -> None:
    add(db, "missing", feed_server.serve_file("/m.xml", "bad/missing-fields.xml", validators=False))
    assert poll(db)["missing"].new == 3
    stored = items(db)
    no_link = next(item for item in stored if not item.url)
    assert no_link.uid.startswith("sha256:")
    no_date = next(i for i in stored if i.url == "https://example.org/missing/no-date")
    assert no_date.published_at == no_date.fetched_at
    feed_server.serve_file("/m.xml", "bad/missing-fields.xml", validators=False)
    with db.session() as session:  # force a re-parse of the same entries
        get_source("missing", session=session).body_hash = None
        session.commit()
    assert poll(db)["missing"].new == 0
    assert len(items(db)) == 3


def test_duplicate_guids_inside_one_feed_store_one_item(db: Db, feed_server: FeedServer) -> None:
    add(db, "dup", feed_server.serve_file("/dup.xml", "bad/duplicate-guids.xml"))
    assert poll(db)["dup"].new == 2
    assert sorted(by_url(db)) == ["https://example.org/dup/1", "https://example.org/dup/2"]


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("bad/latin1.xml", "Côte d'Ivoire : réfugiés à Genève, déclaration du Secrétaire général"),
        ("bad/utf16.xml", "Déclaration sur le Myanmar"),
    ],
)
def test_non_utf8_feeds_are_decoded(db: Db, feed_server: FeedServer, name: str, title: str) -> None:
    add(db, "enc", feed_server.serve_file("/enc.xml", name, content_type="application/xml"))
    assert poll(db)["enc"].new == 1
    assert items(db)[0].title == title


def test_a_body_over_the_cap_is_refused(db: Db, feed_server: FeedServer) -> None:
    add(db, "big", feed_server.serve_file("/big.xml", "un-news/all.xml"))
    outcome = poll(db, feed_max_bytes=2_000)["big"]
    assert outcome.status == "failed" and "cap" in outcome.message
    assert items(db) == []


def test_the_gzip_bomb_is_a_valid_gzip_file_of_what_it_claims() -> None:
    assert gzip.decompress(gzip_bomb(3, head=b"<feed>")) == b"<feed>" + b" " * 3_000_000


def test_a_gzip_bomb_stops_at_the_cap(db: Db, feed_server: FeedServer) -> None:
    bomb = gzip_bomb(200)  # 200 MB of spaces behind the feed's first tag
    assert len(bomb) < 300_000

    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("Content-Encoding", "gzip")
        request.send_header("Content-Length", str(len(bomb)))
        request.end_headers()
        request.wfile.write(bomb)

    add(db, "bomb", feed_server.serve("/bomb.xml", handler))
    outcome = poll(db, feed_max_bytes=1_000_000)["bomb"]
    assert outcome.status == "failed"
    assert "cap" in outcome.message and "decompression" in outcome.message


def test_a_gzipped_feed_is_decoded(db: Db, feed_server: FeedServer) -> None:
    body = gzip.compress(feed_server_data("un-press/rss.xml"))

    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Encoding", "gzip")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    add(db, "gz", feed_server.serve("/gz.xml", handler))
    assert poll(db)["gz"].new == 4
    assert feed_server.requests_to("/gz.xml")[0].headers["Accept-Encoding"] == "gzip, deflate"


def feed_server_data(name: str) -> bytes:
    from tests.support.feedserver import DATA

    return (DATA / name).read_bytes()


def test_a_slow_server_times_out_and_the_others_still_ingest(
    db: Db, feed_server: FeedServer
) -> None:
    written: list[int] = []
    hung_up = threading.Event()

    def slow(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Length", "100000")
        request.end_headers()
        try:
            for _ in range(40):  # a byte every 0.1 s: each read is quick, the whole is not
                request.wfile.write(b" ")
                request.wfile.flush()
                written.append(1)
                time.sleep(0.1)
        except OSError:  # the client hung up: its deadline for the whole response passed
            hung_up.set()

    add(db, "slow", feed_server.serve("/slow.xml", slow))
    add(db, "press", feed_server.serve_file("/press.xml", "un-press/rss.xml"))
    outcomes = poll(db, feed_timeout="1s")
    assert outcomes["slow"].status == "failed" and "within 1 s" in outcomes["slow"].message
    # The poll gave up long before the server's 4 s of trickle (a per-read timeout alone
    # would have read all 40 bytes): the server finds the connection closed.
    wait_until(hung_up.is_set, 10, message="the server seeing the client hang up")
    assert len(written) < 40
    assert outcomes["press"].new == 4


def test_a_redirect_loop_is_cut_off(db: Db, feed_server: FeedServer) -> None:
    def loop(request: BaseHTTPRequestHandler) -> None:
        request.send_response(302)
        request.send_header("Location", "/loop.xml")
        request.send_header("Content-Length", "0")
        request.end_headers()

    add(db, "loop", feed_server.serve("/loop.xml", loop))
    outcome = poll(db, feed_max_redirects=3)["loop"]
    assert outcome.status == "failed" and "redirect" in outcome.message
    assert len(feed_server.requests_to("/loop.xml")) == 4


def test_a_redirect_to_a_non_http_scheme_is_refused(db: Db, feed_server: FeedServer) -> None:
    def to_file(request: BaseHTTPRequestHandler) -> None:
        request.send_response(302)
        request.send_header("Location", "file:///etc/passwd")
        request.send_header("Content-Length", "0")
        request.end_headers()

    add(db, "sneaky", feed_server.serve("/sneaky.xml", to_file))
    outcome = poll(db)["sneaky"]
    assert outcome.status == "failed" and "only http:// and https://" in outcome.message


def test_loopback_feeds_are_refused_unless_allowed(db: Db, feed_server: FeedServer) -> None:
    add(db, "local", feed_server.serve_file("/press.xml", "un-press/rss.xml"))
    outcome = poll(db, allow_private_feeds=False)["local"]
    assert outcome.status == "failed" and "R2P_ALLOW_PRIVATE_FEEDS" in outcome.message
    assert feed_server.requests_to("/press.xml") == []
    assert poll(db, allow_private_feeds=True)["local"].new == 4


def test_it_identifies_itself(db: Db, feed_server: FeedServer) -> None:
    add(db, "press", feed_server.serve_file("/press.xml", "un-press/rss.xml"))
    poll(db)
    agent = feed_server.requests_to("/press.xml")[0].headers["User-Agent"]
    assert agent.startswith("r2p-mailer/") and "http" in agent


def test_junk_after_a_gzip_stream_is_refused(db: Db, feed_server: FeedServer) -> None:
    body = gzip.compress(feed_server_data("un-press/rss.xml")) + b"\0" * 3_000_000

    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Encoding", "gzip")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    add(db, "padded", feed_server.serve("/padded.xml", handler))
    outcome = poll(db, feed_max_bytes=1_000_000)["padded"]
    assert outcome.status == "failed"
    assert "cap" in outcome.message or "after the end" in outcome.message


def meeting(db: Db, symbol: str) -> Item:
    (item,) = [item for item in items(db) if item.dedupe_key == f"un-press:{symbol}"]
    return item


def test_a_press_release_replaces_the_live_blog_seen_before_it(
    db: Db, feed_server: FeedServer
) -> None:
    add(db, "un-press", feed_server.serve_file("/press.xml", "un-press/blog-first.xml"))
    poll(db)
    blog = meeting(db, "sc16450")
    assert blog.url == "https://press.un.org/en/blog/sc16450"
    feed_server.serve_file("/press.xml", "un-press/release-after-blog.xml")
    assert poll(db)["un-press"].new == 1
    release = meeting(db, "sc16450")
    assert release.id == blog.id and release.fetched_at == blog.fetched_at
    assert release.url == "https://press.un.org/en/2026/sc16450.doc.htm"
    assert release.uid == release.url and release.title.startswith("Security Council, 10058th")
    assert release.tags["risks"] == ["mass-killings", "forced-displacement", "arbitrary-detention"]
    assert release.relevant and release.published_at > blog.published_at
    feed_server.serve_file("/press.xml", "un-press/release-after-blog.xml", validators=False)
    with db.session() as session:  # a new body hash: the feed is parsed and stored again
        get_source("un-press", session=session).body_hash = None
        session.commit()
    assert poll(db)["un-press"].new == 0
    assert meeting(db, "sc16450").url == release.url and len(items(db)) == 1


def test_a_live_blog_seen_after_its_press_release_does_not_replace_it(
    db: Db, feed_server: FeedServer
) -> None:
    add(db, "un-press", feed_server.serve_file("/press.xml", "un-press/release-after-blog.xml"))
    assert poll(db)["un-press"].new == 1
    feed_server.serve_file("/press.xml", "un-press/blog-first.xml")
    assert poll(db)["un-press"].new == 0
    assert meeting(db, "sc16450").url == "https://press.un.org/en/2026/sc16450.doc.htm"


def test_un_news_feed_view_guids_become_canonical_story_urls(
    db: Db, feed_server: FeedServer
) -> None:
    add(
        db, "un-news-human-rights", feed_server.serve_file("/hr.xml", "un-news/feed-view-guids.xml")
    )
    poll(db)
    stored = by_url(db)
    assert set(stored) == {
        "https://news.un.org/en/story/2026/11/1166421",
        "https://news.un.org/en/story/2026/11/1166422",
        "https://news.un.org/en/story/2026/11/1166423",
        # an audio page's redirect names no story: kept as the feed gave it
        "https://news.un.org/feed/view/en/audio/2026/11/1166424",
    }
    football = stored["https://news.un.org/en/story/2026/11/1166421"]
    assert football.uid == "https://news.un.org/feed/view/en/story/2026/11/1166421"
    assert football.dedupe_key == "un-news:en:1166421"


def test_a_country_alone_or_a_colliding_acronym_makes_nothing_relevant(
    db: Db, feed_server: FeedServer
) -> None:
    add(
        db, "un-news-human-rights", feed_server.serve_file("/hr.xml", "un-news/feed-view-guids.xml")
    )
    poll(db)
    stored = {item.url.rsplit("/", 1)[1]: item for item in items(db)}
    football, council, kivu = stored["1166421"], stored["1166422"], stored["1166423"]
    assert football.tags["countries"] == ["ukraine"] and not football.relevant
    assert council.tags["countries"] == ["ukraine"] and not council.relevant
    assert kivu.tags["countries"] == ["dr-congo"] and kivu.relevant
    assert kivu.tags["matched"] == {"mass-killings": "summary executions", "dr-congo": "DRC"}


def test_known_summary_boilerplate_is_stripped_per_source(db: Db, feed_server: FeedServer) -> None:
    # the packaged registry lists ReliefWeb's boilerplate under this key
    add(db, "reliefweb-updates", feed_server.serve_file("/rw.xml", "reliefweb/updates.xml"))
    poll(db)
    report, flash = items(db)
    assert report.summary_text == "" and report.summary_html == ""
    assert flash.summary_text.startswith("Some 12,000 people fled El Fasher")
    assert "Country:" not in flash.summary_html and "Source:" not in flash.summary_html
    assert flash.tags["countries"] == ["sudan"] and flash.relevant


def test_another_source_keeps_the_same_words(db: Db, feed_server: FeedServer) -> None:
    add(db, "aggregator", feed_server.serve_file("/rw.xml", "reliefweb/updates.xml"))
    poll(db)
    assert all(item.summary_text.startswith("Country: ") for item in items(db))


def test_an_unusable_registry_file_leaves_the_boilerplate_and_polls_on(
    db: Db, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    add(db, "reliefweb-updates", feed_server.serve_file("/rw.xml", "reliefweb/updates.xml"))
    broken = db.tmp_path / "sources.toml"
    broken.write_text("[[source]]\nkey = 'reliefweb-updates'\nboilerplate = ['(unclosed']\n")
    with caplog.at_level(logging.ERROR, logger="jobs.poll"):
        assert poll(db, sources_file=broken)["reliefweb-updates"].new == 2
    assert "boilerplate not stripped" in caplog.text and "sources.toml" in caplog.text
    assert all(item.summary_text.startswith("Country: ") for item in items(db))
