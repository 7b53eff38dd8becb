"""A feed's health in plain words: one sentence naming the host for each kind of failure
the poller records, and the state the console shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailer.feeds.health import health_of, plain_error
from mailer.models import Source

URL = "https://news.un.org/feed/subscribe/en/news/all/rss.xml"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (
            "cannot connect: [Errno -2] Name or service not known",
            "cannot reach news.un.org: name not found; offline or wrong URL?",
        ),
        (
            "cannot resolve news.un.org (Temporary failure in name resolution): offline, "
            "or a wrong URL?",
            "cannot reach news.un.org: name not found; offline or wrong URL?",
        ),
        (
            "cannot connect: [Errno 111] Connection refused",
            "news.un.org refused the connection: the site may be down, or the address is wrong",
        ),
        (
            "no complete answer within 20 s (R2P_FEED_TIMEOUT)",
            "news.un.org did not answer in time: it may be slow or down",
        ),
        (
            "cannot connect: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
            "cannot connect securely to news.un.org: its certificate or encryption was not "
            "accepted",
        ),
        (
            "HTTP 404 Not Found",
            "news.un.org has no feed at this address (HTTP 404 Not Found): check the URL",
        ),
        (
            "HTTP 410 Gone: source disabled",
            "news.un.org says the feed is gone for good (HTTP 410 Gone), so it was disabled",
        ),
        (
            "HTTP 503 Service Unavailable",
            "news.un.org has a problem of its own (HTTP 503): usually temporary",
        ),
        (
            "the body is over the 5,000,000 byte cap (R2P_FEED_MAX_BYTES)",
            "the feed at news.un.org is larger than we accept (R2P_FEED_MAX_BYTES)",
        ),
        (
            "the body is an HTML page (<!DOCTYPE html>), not an RSS or Atom feed; check the "
            "source URL",
            "news.un.org answered with something that is not a feed (a web page?): check the URL",
        ),
        (
            "the body is not an RSS or Atom feed; check the source URL",
            "news.un.org answered with something that is not a feed (a web page?): check the URL",
        ),
        (
            "malformed feed: <unknown>:3:0: mismatched tag",
            "the feed at news.un.org has errors: the items that could be read were kept",
        ),
        (
            "feed too expensive to parse: over 5 s of CPU time",
            "the feed at news.un.org is too large or complex to read safely",
        ),
        ("something nobody foresaw", "polling news.un.org failed"),
    ],
)
def test_each_kind_of_failure_is_one_sentence_naming_the_host(error: str, sentence: str) -> None:
    assert plain_error(error, URL) == sentence


def source(**fields: object) -> Source:
    values: dict[str, object] = {
        "key": "un-news",
        "url": URL,
        "enabled": True,
        "consecutive_failures": 0,
        "empty_responses": 0,
        **fields,
    }
    return Source(**values)


def test_health_says_what_state_a_source_is_in_and_keeps_the_raw_error() -> None:
    raw = "cannot connect: [Errno -2] Name or service not known"
    failing = health_of(
        source(consecutive_failures=6, last_error=raw, last_error_at=NOW, last_success_at=None)
    )
    assert failing.state == "failing" and failing.attention and failing.raw == raw
    assert failing.summary == (
        "Cannot reach news.un.org: name not found; offline or wrong URL? (failed 6 times in a row)."
    )
    assert health_of(source()).state == "new"
    ok = health_of(source(last_success_at=NOW))
    assert (ok.state, ok.summary, ok.attention) == ("ok", "Working.", False)
    # an old error after a later success is history, not a problem
    recovered = source(last_success_at=NOW, last_error=raw, last_error_at=NOW - timedelta(hours=1))
    assert health_of(recovered).state == "ok"
    warned = health_of(
        source(last_success_at=NOW, last_error="malformed feed: bad", last_error_at=NOW)
    )
    assert warned.state == "warning" and "items that could be read were kept" in warned.summary
    empty = health_of(source(last_success_at=NOW, last_empty_at=NOW, empty_responses=1))
    assert (empty.state, empty.summary) == ("warning", "news.un.org answered with an empty feed.")
    off = health_of(source(enabled=False, disabled_reason="the server answered 410 Gone"))
    assert (off.state, off.summary) == ("disabled", "Not polled: the server answered 410 Gone.")
