"""Normalising feed entries: stable uid, canonical URL, UTC date, clean title and summary
(without the source's known boilerplate), and the dedupe key that makes one story one item
across feeds and sources.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mailer.feeds.sanitise import clean_html, html_to_text, one_line, shorten, text_to_html

SUMMARY_TEXT_CHARS = 600
TITLE_CHARS = 500
# A date further ahead than this is a publisher's mistake; we use the fetch time instead.
FUTURE_SLACK = timedelta(days=1)

_TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid)$", re.IGNORECASE)
# news.un.org/en/story/2026/11/1166401 or /feed/view/en/story/2026/11/1166401
_UN_NEWS_STORY = re.compile(r"^/(?:feed/view/)?([a-z]{2})/story/\d{4}/\d{2}/(\d+)")
# The redirect form of a UN News story: news.un.org/feed/view/en/story/2026/11/1166401
_UN_NEWS_FEED_VIEW = re.compile(r"^/feed/view/([a-z]{2})/story/(\d{4})/(\d{2})/(\d+)/?$")
# press.un.org/en/2026/sc16444.doc.htm and its live blog press.un.org/en/blog/sc16444
_UN_PRESS_SYMBOL = re.compile(
    r"^/[a-z]{2}/(?:\d{4}|blog)/([a-z]+\d+(?:-[a-z]+\d+)*)(?:\.doc\.htm)?/?$"
)
_UN_PRESS_RELEASE = re.compile(r"^/[a-z]{2}/\d{4}/[a-z]+\d+(?:-[a-z]+\d+)*\.doc\.htm$")
_UN_PRESS_BLOG = re.compile(r"^/[a-z]{2}/blog/")
# Which of two items of one story (same dedupe key) is kept: the higher rank replaces the
# lower whenever it arrives; equal ranks keep the first stored.
RANK_OTHER, RANK_LIVE_BLOG, RANK_PRESS_RELEASE = 0, 1, 2


@dataclass(frozen=True)
class Entry:
    uid: str
    dedupe_key: str
    url: str
    title: str
    author: str
    summary_html: str
    summary_text: str
    body_text: str
    published_at: datetime


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no fragment, no tracking parameters."""
    parts = urlsplit(url.strip())
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING_PARAMS.match(k)
        ]
    )
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))


def _is_web_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def un_news_story_url(url: str) -> str:
    """A UN News ``/feed/view/`` redirect URL as its story page
    (``https://news.un.org/en/story/YYYY/MM/NNNNNN``), derived from the path alone; any
    other URL unchanged."""
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith("news.un.org"):
        return url
    match = _UN_NEWS_FEED_VIEW.match(parts.path)
    if match is None:
        return url
    language, year, month, story = match.groups()
    return f"https://news.un.org/{language}/story/{year}/{month}/{story}"


def pick_url(link: str, guid: str) -> str:
    """The story's canonical URL: UN News puts it in the guid (sometimes itself a
    ``/feed/view/`` redirect) and a redirect in the link; redirects become story pages."""
    if _is_web_url(guid) and (not link or "/feed/view/" in urlsplit(link).path):
        return un_news_story_url(canonical_url(guid))
    if _is_web_url(link):
        return un_news_story_url(canonical_url(link))
    return ""


def story_rank(url: str) -> int:
    """How authoritative an item is among those of one story: a press.un.org press release
    outranks the live blog of the same meeting."""
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith("press.un.org"):
        return RANK_OTHER
    path = parts.path.lower()
    if _UN_PRESS_RELEASE.match(path):
        return RANK_PRESS_RELEASE
    if _UN_PRESS_BLOG.match(path):
        return RANK_LIVE_BLOG
    return RANK_OTHER


def dedupe_key(url: str, uid: str) -> str:
    """One key per story: UN News story id, UN document symbol, else the canonical URL."""
    if url:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host.endswith("news.un.org") and (m := _UN_NEWS_STORY.match(parts.path)):
            return f"un-news:{m.group(1)}:{m.group(2)}"
        if host.endswith("press.un.org") and (m := _UN_PRESS_SYMBOL.match(parts.path.lower())):
            return f"un-press:{m.group(1)}"
        return "url:" + url
    return "uid:" + uid


def _entry_date(entry: Any, fetched_at: datetime) -> datetime:
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(field)
        if parsed:
            when = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            return fetched_at if when > fetched_at + FUTURE_SLACK else when
    return fetched_at


def compile_boilerplate(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """A source's boilerplate patterns (regular expressions, multi-line mode: ``^`` and
    ``$`` are line ends of the summary's text); raises re.error on a bad one."""
    return tuple(re.compile(pattern, re.MULTILINE) for pattern in patterns)


def strip_boilerplate(text: str, patterns: Sequence[re.Pattern[str]]) -> str:
    """``text`` without what the patterns match, and without the lines that leaves empty."""
    for pattern in patterns:
        text = pattern.sub("", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _summary(entry: Any) -> tuple[str, str]:
    """(sanitised HTML, plain text) of the entry's summary, escaping plain-text fields."""
    detail = entry.get("summary_detail") or {}
    raw = entry.get("summary", "")
    if not raw and entry.get("content"):
        detail = entry["content"][0]
        raw = detail.get("value", "")
    if detail.get("type") == "text/plain":
        text = one_line(raw) if "\n" not in raw else raw.strip()
        return text_to_html(text), text
    return clean_html(raw), html_to_text(raw)


def normalise_entry(
    entry: Any, *, fetched_at: datetime, boilerplate: Sequence[re.Pattern[str]] = ()
) -> Entry:
    """One feed entry as we store it; ``boilerplate`` is the source's known summary
    boilerplate (``compile_boilerplate``), removed before the summary is cut."""
    guid = one_line(str(entry.get("id", "")))
    link = one_line(str(entry.get("link", "")))
    url = pick_url(link, guid)
    title_text = one_line(html_to_text(str(entry.get("title", ""))))
    summary_html, summary_text = _summary(entry)
    if any(pattern.search(summary_text) for pattern in boilerplate):
        summary_text = strip_boilerplate(summary_text, boilerplate)
        summary_html = text_to_html(summary_text)
    content_text = " ".join(
        html_to_text(part.get("value", "")) for part in entry.get("content", [])
    )
    published_at = _entry_date(entry, fetched_at)
    # Without guid or link the content is the identity (never the fetch time, which changes).
    uid = (
        guid
        or link
        or "sha256:" + hashlib.sha256(f"{title_text}\n{summary_text}".encode()).hexdigest()
    )
    title = shorten(title_text, TITLE_CHARS) or shorten(one_line(summary_text), 120) or "(untitled)"
    return Entry(
        uid=uid[:1024],
        dedupe_key=dedupe_key(url, uid)[:1024],
        url=url,
        title=title,
        author=shorten(one_line(html_to_text(str(entry.get("author", "")))), 200),
        summary_html=summary_html,
        summary_text=shorten(one_line(summary_text), SUMMARY_TEXT_CHARS),
        body_text=content_text,
        published_at=published_at,
    )
