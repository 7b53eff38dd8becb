"""Parsing fetched bytes with feedparser, after refusing documents that declare entities.

Billion-laughs and external-entity (XXE) attacks need an ``<!ENTITY`` declaration in the
document type; real feeds never carry one, so such a document is refused before any XML
parser sees it. Malformed but harmless XML is parsed leniently ("bozo") and what parses
is kept.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import feedparser

from mailer.errors import FeedParseError

log = logging.getLogger(__name__)

_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_PROLOG_SAMPLE = 256 * 1024


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: list[Any]
    warning: str | None


def refuse_entity_declarations(body: bytes) -> None:
    """Raise FeedParseError if the document declares XML entities (in any byte encoding)."""
    # Dropping NUL bytes makes UTF-16 and UTF-32 text searchable as ASCII.
    sample = body[:_PROLOG_SAMPLE].replace(b"\x00", b"")
    if _ENTITY_DECLARATION.search(sample):
        raise FeedParseError(
            "the document declares XML entities (a billion-laughs or external-entity "
            "attack, or a very unusual feed); refused without parsing"
        )


def parse_feed(body: bytes, *, content_type: str | None = None) -> ParsedFeed:
    """Parse feed bytes; keeps what parses from malformed XML and reports it as a warning."""
    refuse_entity_declarations(body)
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    warning = None
    if parsed.get("bozo"):
        warning = f"malformed feed: {parsed.get('bozo_exception')}"
    entries = list(parsed.get("entries", []))
    channel = parsed.get("feed", {})
    if not entries and not channel.get("title") and parsed.get("version", "") == "":
        raise FeedParseError(
            "the body is not an RSS or Atom feed"
            + (f" ({warning})" if warning else "")
            + "; check the source URL"
        )
    if warning:
        log.warning("%s; kept %d entries", warning, len(entries))
    return ParsedFeed(title=str(channel.get("title", "")), entries=entries, warning=warning)
