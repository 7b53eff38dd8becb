"""Text a feed server controls (reason phrase, redirect Location, the document's declared
encoding and title) is stored and raised as plain text: no control characters, terminal
escape sequences or bidi controls, bounded in length, and markup-looking text kept exactly
as it was written (escaping it is the printer's job)."""

from __future__ import annotations

import asyncio
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from jobs.poll import PollOutcome, poll_sources
from mailer.errors import FetchError
from mailer.feeds.fetch import fetch_feed, make_client
from mailer.feeds.registry import SourceSpec, add_source, get_source
from mailer.feeds.sanitise import plain_text
from mailer.models import Source
from tests.conftest import Db, make_settings
from tests.support.feedserver import FeedServer

NOT_PLAIN = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def on_the_wire(text: str) -> str:
    """``text`` as UTF-8 bytes, in the latin-1 str http.server writes to the socket."""
    return text.encode("utf-8").decode("latin-1")


def add(db: Db, key: str, url: str) -> None:
    with db.session() as session:
        add_source(SourceSpec(key=key, url=url), allow_private=True, session=session)
        session.commit()


def poll(db: Db, **settings: Any) -> dict[str, PollOutcome]:
    outcomes = asyncio.run(poll_sources(db.settings(**settings), db.factory))
    return {o.key: o for o in outcomes}


def source(db: Db, key: str) -> Source:
    with db.session() as session:
        return get_source(key, session=session)


def answering(code: int, reason: str, **headers: str) -> Any:
    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(code, reason)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", "0")
        request.end_headers()

    return handler


@pytest.mark.parametrize("reason", ["[/]", "[bold]x[/]", "[link=https://evil.example]y[/link]"])
def test_a_markup_like_reason_phrase_is_stored_exactly(
    db: Db, feed_server: FeedServer, reason: str
) -> None:
    add(db, "broken", feed_server.serve("/500.xml", answering(500, reason)))
    outcome = poll(db)["broken"]
    assert outcome.message == f"HTTP 500 {reason}"
    assert source(db, "broken").last_error == f"HTTP 500 {reason}"


def test_a_long_reason_phrase_is_bounded(db: Db, feed_server: FeedServer) -> None:
    add(db, "long", feed_server.serve("/500.xml", answering(500, "x" * 5000)))
    outcome = poll(db)["long"]
    assert outcome.message.startswith("HTTP 500 xxx") and len(outcome.message) <= 1000
    assert len(source(db, "long").last_error or "") <= 1000


def test_escape_sequences_and_bidi_controls_in_a_location_are_removed(
    db: Db, feed_server: FeedServer
) -> None:
    # C1 CSI (0x9b), a C1 OSC string ended by ST (0x9c), a right-to-left override.
    location = "/loop\u009b2J\u009d0;owned\u009c\u202egpj.xml"
    add(
        db,
        "loop",
        feed_server.serve("/loop.xml", answering(302, "Found", Location=on_the_wire(location))),
    )
    outcome = poll(db, feed_max_redirects=0)["loop"]
    stored = source(db, "loop").last_error or ""
    assert outcome.status == "failed" and "redirects" in outcome.message
    for text in (outcome.message, stored):
        assert not NOT_PLAIN.search(text), repr(text)
        assert "owned" not in text and "/loop" in text


def test_text_from_the_document_is_stored_plain(db: Db, feed_server: FeedServer) -> None:
    """The declared encoding ends up in the parser's warning; the title on the source."""
    body = (
        '<?xml version="1.0" encoding="\x1b]0;owned\x07\x1b[31m[bold]"?>\n'
        '<rss version="2.0"><channel><title>Feed \u202eeltit\u2069 </title>'
        "<item><title>One</title><link>https://example.org/1</link></item></channel></rss>"
    ).encode()
    add(db, "doc", feed_server.serve_bytes("/doc.xml", body, content_type="application/rss+xml"))
    outcome = poll(db)["doc"]
    stored = source(db, "doc")
    assert outcome.status == "new" and outcome.message
    for text in (outcome.message, stored.last_error or "", stored.title):
        assert not NOT_PLAIN.search(text), repr(text)
        assert "owned" not in text
    assert "[bold]" in (stored.last_error or "")
    assert stored.title == "Feed eltit"


def test_an_escape_sequence_in_the_feed_title_is_removed(db: Db, feed_server: FeedServer) -> None:
    """ESC is not XML: the lenient parser keeps it, the store does not."""
    body = (
        b'<rss version="2.0"><channel><title>Feed\x1b[2J\x1b]0;owned\x07 title</title>'
        b"<item><title>One</title><link>https://example.org/1</link></item></channel></rss>"
    )
    add(db, "esc", feed_server.serve_bytes("/esc.xml", body))
    assert poll(db)["esc"].status == "new"
    assert source(db, "esc").title == "Feed title"


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("HTTP 500 [/]", "HTTP 500 [/]"),
        ("a\x1b[31mred\x1b[0m b", "ared b"),
        ("t\x1b]0;title\x07x", "tx"),
        ("t\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\z", "tlinkz"),
        ("c1\x9b31mX", "c1X"),
        ("bidi\u202eevil\u2066x\u2069 y", "bidievilx y"),
        ("tab\tnew\nline\rcr\x00nul\x7fdel", "tab new line crnuldel"),
        ("Côte d'Ivoire — 中文", "Côte d'Ivoire — 中文"),
    ],
)
def test_plain_text(raw: str, plain: str) -> None:
    assert plain_text(raw) == plain


def test_plain_text_is_bounded() -> None:
    assert len(plain_text("x" * 10_000, 300)) == 300


@pytest.mark.parametrize(
    "location",
    ["/loop\u009b2J\u202egpj.xml", "file:///etc/\u009d0;owned\u009cpasswd\u202e"],
)
def test_errors_raised_by_the_fetcher_are_plain(
    feed_server: FeedServer, tmp_path: Path, location: str
) -> None:
    url = feed_server.serve("/loop.xml", answering(302, "Found", Location=on_the_wire(location)))

    async def go() -> None:
        settings = make_settings(tmp_path, feed_max_redirects=0)
        async with make_client(settings) as client:
            await fetch_feed(client, url, settings=settings)

    with pytest.raises(FetchError) as caught:
        asyncio.run(go())
    assert not NOT_PLAIN.search(str(caught.value)), repr(str(caught.value))
    assert "owned" not in str(caught.value)
