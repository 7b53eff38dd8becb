"""Imported only inside the feed parser's fork server (mailer/feeds/isolate.py), never by
the poller itself: loads the parser once, and stops the server's children from importing
the poller's main script again.

multiprocessing makes every child of a fork server re-import the parent's ``__main__``
(for ``r2p-mailer`` the whole CLI, about a second), and its "__main__" preload, meant to
do that once in the server, does not take effect (CPython passes the server no main
path). The parse child's target lives in mailer.feeds.isolate, so it needs no main.
"""

from __future__ import annotations

import gc
import multiprocessing.spawn
from datetime import UTC, datetime

from mailer.feeds.isolate import prepare

# One small parse in the server compiles the regular expressions and imports the modules
# feedparser loads on first use, once, instead of in every child.
WARM_UP = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
    b'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>'
    b"<link>https://example.org/</link><item><title>A &amp; b</title>"
    b"<link>https://example.org/a?utm_source=x</link><guid>https://example.org/a</guid>"
    b"<dc:creator>c</dc:creator><pubDate>Mon, 16 Nov 2026 14:05:12 -0500</pubDate>"
    b"<description>&lt;p&gt;x &lt;a href='https://example.org/'&gt;y&lt;/a&gt;&lt;/p&gt;"
    b"</description><content:encoded><![CDATA[<h2>z</h2><p>&#8217;</p>]]></content:encoded>"
    b"</item></channel></rss>"
)


def _no_main(_main: str) -> None:
    """The parse child runs mailer.feeds.isolate._child; the main script is not needed."""


multiprocessing.spawn._fixup_main_from_path = _no_main  # type: ignore[attr-defined]
multiprocessing.spawn._fixup_main_from_name = _no_main  # type: ignore[attr-defined]
prepare(WARM_UP, content_type="application/rss+xml; charset=utf-8", fetched_at=datetime.now(UTC))
prepare(
    WARM_UP.replace(b"<item>", b"<item><updated>2026-11-16T14:05:12Z</updated>"),
    content_type="application/xml",
    fetched_at=datetime.now(UTC),
)

# The loaded modules stay out of the children's garbage collections, so a child does not
# touch (and copy) the pages they sit on.
gc.freeze()
