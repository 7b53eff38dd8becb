"""Parsing fetched bytes with feedparser, after refusing documents that declare a DTD or
an entity (mailer/feeds/xmlguard.py). Malformed but harmless XML is parsed leniently
("bozo") and what parses is kept. This runs in the process that bounds a parse's CPU time
and memory (mailer/feeds/isolate.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import feedparser

from mailer.errors import FeedParseError
from mailer.feeds.sanitise import plain_text
from mailer.feeds.xmlguard import refuse_declarations


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: list[Any]
    warning: str | None


def parse_feed(body: bytes, *, content_type: str | None = None) -> ParsedFeed:
    """Parse feed bytes; keeps what parses from malformed XML and reports it as a warning."""
    refuse_declarations(body, content_type=content_type)
    headers = {"content-type": content_type} if content_type else {}
    # A file object, never the bytes themselves: given bytes or a str, feedparser first
    # tries them as a file name or URL, so a body naming a local file would be read from
    # disk, past the guard above.
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=True)
    warning = None
    if parsed.get("bozo"):
        # The message can quote the document (a declared encoding): plain text only.
        warning = plain_text(f"malformed feed: {parsed.get('bozo_exception')}", 500)
    entries = list(parsed.get("entries", []))
    channel = parsed.get("feed", {})
    if not entries and not channel.get("title") and parsed.get("version", "") == "":
        raise FeedParseError(
            "the body is not an RSS or Atom feed"
            + (f" ({warning})" if warning else "")
            + "; check the source URL"
        )
    return ParsedFeed(
        title=plain_text(str(channel.get("title", "")), 200), entries=entries, warning=warning
    )
