"""One feed's parse is bounded in CPU time and memory: a hostile document that passes the
XML guard (no DTD) but costs minutes or hundreds of megabytes ends as that feed's error,
and the other feeds of the poll still ingest.

The documents are real (about 2 MB, the default R2P_FEED_MAX_BYTES); the tests lower the
bounds so that they reach them quickly, and assert no durations.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from jobs.poll import PollOutcome, poll_sources
from mailer.feeds.isolate import (
    MAX_ENTRIES,
    FeedTooExpensiveError,
    ParseLimits,
    prepare,
    prepare_isolated,
)
from mailer.feeds.registry import SourceSpec, add_source, get_source
from tests.conftest import Db
from tests.support.feedserver import DATA, FeedServer

MIB = 1024 * 1024
TOO_EXPENSIVE = "feed too expensive to parse"


def nested_xhtml(tags: int = 600_000) -> bytes:
    """1.8 MB of nested XHTML in one Atom entry: feedparser needs about 40 s of CPU."""
    return (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><title>e</title>'
        b'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
        + b"<b>" * tags
        + b"</div></content></entry></feed>"
    )


def empty_items(count: int = 285_000) -> bytes:
    """2 MB of ``<item/>``: 285,000 entries, each a dictionary in feedparser's result."""
    return (
        b'<rss version="2.0"><channel><title>t</title>' + b"<item/>" * count + b"</channel></rss>"
    )


def items_feed(count: int) -> bytes:
    items = "".join(
        f"<item><title>Item {n}</title><link>https://example.org/{n}</link></item>"
        for n in range(count)
    )
    return f'<rss version="2.0"><channel><title>Many</title>{items}</channel></rss>'.encode()


def now() -> datetime:
    return datetime.now(UTC)


def test_a_parse_over_its_cpu_time_is_stopped() -> None:
    with pytest.raises(
        FeedTooExpensiveError, match=r"feed too expensive to parse: over 1 s of CPU"
    ):
        prepare_isolated(
            nested_xhtml(),
            content_type="application/atom+xml",
            fetched_at=now(),
            limits=ParseLimits(cpu_seconds=1),
        )


def test_a_parse_over_its_memory_is_stopped() -> None:
    with pytest.raises(FeedTooExpensiveError, match=r"feed too expensive to parse: .*(MiB|memory)"):
        prepare_isolated(
            empty_items(),
            content_type="application/rss+xml",
            fetched_at=now(),
            limits=ParseLimits(memory_bytes=8 * MIB),
        )


def test_a_feed_within_the_bounds_parses_in_the_child_as_in_process() -> None:
    body = (DATA / "globalr2p/feed.xml").read_bytes()
    at = now()
    isolated = prepare_isolated(body, content_type="application/rss+xml", fetched_at=at)
    assert isolated == prepare(body, content_type="application/rss+xml", fetched_at=at)
    assert len(isolated.entries) == 4


def test_a_refused_document_is_a_parse_error_not_a_cost_error() -> None:
    body = (DATA / "bad/billion-laughs.xml").read_bytes()
    with pytest.raises(Exception, match="refused without parsing") as caught:
        prepare_isolated(body, content_type="application/rss+xml", fetched_at=now())
    assert not isinstance(caught.value, FeedTooExpensiveError)


def add(db: Db, key: str, url: str) -> None:
    with db.session() as session:
        add_source(SourceSpec(key=key, url=url), allow_private=True, session=session)
        session.commit()


def poll(db: Db, limits: ParseLimits | None = None) -> dict[str, PollOutcome]:
    outcomes = asyncio.run(poll_sources(db.settings(), db.factory, parse_limits=limits))
    return {o.key: o for o in outcomes}


def test_hostile_feeds_fail_alone_and_the_others_ingest(db: Db, feed_server: FeedServer) -> None:
    add(db, "cpu", feed_server.serve_bytes("/cpu.xml", nested_xhtml()))
    add(db, "memory", feed_server.serve_bytes("/memory.xml", empty_items()))
    add(db, "press", feed_server.serve_file("/press.xml", "un-press/rss.xml"))
    add(db, "gc", feed_server.serve_file("/gc.xml", "globalr2p/feed.xml"))
    outcomes = poll(db, ParseLimits(cpu_seconds=1, memory_bytes=8 * MIB))
    for key in ("cpu", "memory"):
        assert outcomes[key].status == "failed"
        assert outcomes[key].message.startswith(TOO_EXPENSIVE)
        with db.session() as session:
            stored: Any = get_source(key, session=session)
            assert (stored.last_error or "").startswith(TOO_EXPENSIVE)
            assert stored.consecutive_failures == 1 and stored.etag is None
    assert outcomes["press"].new == 4
    assert outcomes["gc"].new == 4


def test_a_feed_with_too_many_entries_keeps_the_first_ones(db: Db, feed_server: FeedServer) -> None:
    add(db, "many", feed_server.serve_bytes("/many.xml", items_feed(MAX_ENTRIES + 500)))
    outcome = poll(db)["many"]
    assert (outcome.status, outcome.seen, outcome.new) == ("new", MAX_ENTRIES, MAX_ENTRIES)
    assert f"kept the first {MAX_ENTRIES:,} of {MAX_ENTRIES + 500:,} entries" in outcome.message
