"""Per-feed cost of polling: an unchanged feed (304, and same body without validators)
against a 50-item feed that is all new, measured side by side in one run on loopback.
The new feed is measured twice, in turn: parsed in the bounded child process as polls do
(mailer/feeds/isolate.py), and parsed in the poller's own process as before the bound.

    .venv/bin/python bench/poll.py [--rounds 30] [--items 50]

Prints the median milliseconds per feed poll for each case, the ratio of the full ingest
to each unchanged case (the baseline: an unchanged feed must cost no parse), and the cost
of the child process (isolated against in-process).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jobs.poll
from jobs.poll import poll_sources
from mailer.config import Settings
from mailer.db import make_engine, make_sessionmaker, session_scope
from mailer.feeds.isolate import ParseLimits, PreparedFeed, prepare
from mailer.feeds.registry import SourceSpec, add_source
from mailer.migrate import upgrade_to_head
from tests.support.feedserver import FeedServer

ITEM = """<item>
  <title>  Security Council briefing {n}: “protection of civilians” in Sudan  </title>
  <link>https://news.un.org/feed/view/en/story/2026/11/{id}</link>
  <description>&lt;p&gt;Briefing {n}. The Special Adviser warned of genocide and war crimes
  in El Fasher, and of ethnic cleansing in Darfur; Member States recalled their
  responsibility to protect.&lt;/p&gt;&lt;p&gt;More paragraphs follow here.&lt;/p&gt;</description>
  <guid>https://news.un.org/en/story/2026/11/{id}</guid>
  <pubDate>Mon, 16 Nov 2026 14:05:12 -0500</pubDate>
</item>"""


def feed_body(items: int, first_id: int) -> bytes:
    entries = "\n".join(ITEM.format(n=i, id=first_id + i) for i in range(items))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>UN News</title><link>https://news.un.org/en/</link>{entries}</channel></rss>"
    ).encode()


def fresh_feed_handler(items: int) -> Callable[[BaseHTTPRequestHandler], None]:
    counter = iter(range(1_000_000))

    def handler(request: BaseHTTPRequestHandler) -> None:
        body = feed_body(items, 2_000_000 + next(counter) * items)
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handler


def _in_process(
    body: bytes,
    *,
    content_type: str | None,
    fetched_at: datetime,
    limits: ParseLimits | None = None,
) -> PreparedFeed:
    return prepare(body, content_type=content_type, fetched_at=fetched_at)


@contextmanager
def parsing_in_process() -> Iterator[None]:
    """The parse as it was before the bound: in the poller's own process."""
    isolated = jobs.poll.prepare_isolated
    jobs.poll.prepare_isolated = _in_process
    try:
        yield
    finally:
        jobs.poll.prepare_isolated = isolated


def measure(settings: Settings, factory: object, key: str, rounds: int) -> list[float]:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        outcomes = asyncio.run(poll_sources(settings, factory, key=key))  # type: ignore[arg-type]
        timings.append((time.perf_counter() - started) * 1000)
        assert outcomes[0].status != "failed", outcomes[0].message
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="polls per case (default 30)")
    parser.add_argument("--items", type=int, default=50, help="items in the feed (default 50)")
    args = parser.parse_args()

    server = FeedServer().start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, var_dir=Path(tmp), allow_private_feeds=True, secret_key="bench"
        )
        engine = make_engine(settings.database, create=True)
        upgrade_to_head(engine)
        factory = make_sessionmaker(engine)
        body = feed_body(args.items, 1_000_000)
        cases = {
            "unchanged-304": server.serve_bytes("/etag.xml", body, validators=True),
            "unchanged-hash": server.serve_bytes("/plain.xml", body, validators=False),
            "new-items": server.serve("/fresh.xml", fresh_feed_handler(args.items)),
            "new-in-process": server.serve("/fresh2.xml", fresh_feed_handler(args.items)),
        }
        with session_scope(factory) as session:
            for key, url in cases.items():
                add_source(SourceSpec(key=key, url=url), allow_private=True, session=session)
        # Prime the unchanged cases (their first poll ingests), then measure in turn.
        for key in ("unchanged-304", "unchanged-hash"):
            measure(settings, factory, key, 1)
        results: dict[str, list[float]] = {key: [] for key in cases}
        for _ in range(args.rounds):
            for key in cases:
                if key == "new-in-process":
                    with parsing_in_process():
                        results[key] += measure(settings, factory, key, 1)
                else:
                    results[key] += measure(settings, factory, key, 1)
        engine.dispose()
    server.stop()

    medians = {key: statistics.median(values) for key, values in results.items()}
    print(f"poll cost per feed, {args.items}-item feed, {args.rounds} rounds, median (min..max)")
    for key, values in results.items():
        print(f"  {key:15s} {medians[key]:8.2f} ms  ({min(values):.2f}..{max(values):.2f})")
    for baseline in ("unchanged-304", "unchanged-hash"):
        ratio = medians["new-items"] / medians[baseline]
        print(f"  new-items / {baseline}: {ratio:.1f}x")
    extra = medians["new-items"] - medians["new-in-process"]
    ratio = medians["new-items"] / medians["new-in-process"]
    print(f"  parse in a bounded child / in-process: {ratio:.2f}x ({extra:+.1f} ms a changed feed)")


if __name__ == "__main__":
    main()
