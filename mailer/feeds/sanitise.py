"""Cleaning feed text: safe HTML for email and web, plain text for summaries and headers.

Feed content is hostile until cleaned: feedparser leaves plain-text fields as they came
and keeps ``<form>``, so every field goes through here before it is stored.
"""

from __future__ import annotations

import html
import re

import nh3

from mailer.terminal import plain

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "cite",
    "code",
    "em",
    "h2",
    "h3",
    "h4",
    "i",
    "li",
    "ol",
    "p",
    "q",
    "s",
    "small",
    "strong",
    "sub",
    "sup",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}
# Elements whose content is dropped, not just their tags.
DROPPED_CONTENT = {
    "script",
    "style",
    "form",
    "iframe",
    "object",
    "embed",
    "template",
    "noscript",
    "select",
    "textarea",
    "button",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_BLOCK_END = re.compile(r"</(p|div|li|h[1-6]|blockquote|tr)>|<br\s*/?>", re.IGNORECASE)


def strip_control(text: str) -> str:
    """Remove control characters (keeps tab and newline)."""
    return _CONTROL.sub("", text)


def plain_text(text: str, limit: int = 300) -> str:
    """Text from outside (a server's reason phrase, a redirect Location, a parser message,
    a feed's title) made safe to store: without escape sequences, control characters or
    bidi controls (``mailer.terminal.plain``), on one line with single spaces, at most
    ``limit`` characters. Markup-looking text (``[bold]``, ``<b>``) is kept as it is."""
    text = " ".join(plain(text[: limit * 4]).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_html(fragment: str, *, max_chars: int = 50_000) -> str:
    """Sanitised HTML: a short allow-list, http(s)/mailto links only, no scripts or forms."""
    cleaned = nh3.clean(
        strip_control(fragment[: max_chars * 4]),
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return cleaned[:max_chars] if len(cleaned) > max_chars else cleaned


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags and dangerous content gone, entities decoded."""
    with_breaks = _BLOCK_END.sub("\n", fragment)
    bare = nh3.clean(with_breaks, tags=set(), clean_content_tags=DROPPED_CONTENT)
    text = html.unescape(bare)
    lines = (" ".join(line.split()) for line in strip_control(text).splitlines())
    return "\n".join(line for line in lines if line)


def one_line(text: str) -> str:
    """A single trimmed line with collapsed whitespace, safe for titles and mail headers."""
    return " ".join(strip_control(text).replace("\n", " ").split())


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary and mark the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


def text_to_html(text: str) -> str:
    """Escape a plain-text field for HTML, keeping its paragraphs."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
