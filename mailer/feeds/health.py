"""A feed's health in plain words, for staff: one sentence naming the host for each kind
of failure a poll records (DNS, refused, timeout, TLS, HTTP 404/410/5xx, too large, not a
feed, unreadable), read from the stored error text (``sources.last_error``), which stays
available as it was for the curious.

The sentences are plain text built from our own words and the URL's host; the page that
shows them escapes them like anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from mailer.models import Source

_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")
# (words in the lower-cased error, sentence with {host}), the first match wins.
_SENTENCES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        (
            "name or service not known",
            "cannot resolve",
            "nodename nor servname",
            "name resolution",
            "no address associated",
            "has no address",
            "getaddrinfo failed",
        ),
        "cannot reach {host}: name not found; offline or wrong URL?",
    ),
    (
        ("private, loopback or reserved", "multicast address", "over a unix socket"),
        "{host} is a private or local address, and feeds must be public",
    ),
    (
        ("connection refused", "errno 111", "all connection attempts failed"),
        "{host} refused the connection: the site may be down, or the address is wrong",
    ),
    (
        ("certificate", "ssl", "tls"),
        "cannot connect securely to {host}: its certificate or encryption was not accepted",
    ),
    (
        ("r2p_feed_timeout", "stopped answering", "timed out", "took over"),
        "{host} did not answer in time: it may be slow or down",
    ),
    (("byte cap",), "the feed at {host} is larger than we accept (R2P_FEED_MAX_BYTES)"),
    (
        ("html page", "not an rss or atom feed"),
        "{host} answered with something that is not a feed (a web page?): check the URL",
    ),
    (
        ("declares xml entities",),
        "the feed at {host} declares XML entities or a DTD, which are refused for safety",
    ),
    (("too expensive to parse",), "the feed at {host} is too large or complex to read safely"),
    (("parser process ended",), "the feed at {host} could not be read: the reader stopped"),
    (
        ("malformed feed",),
        "the feed at {host} has errors: the items that could be read were kept",
    ),
    (("redirect",), "{host} sends us from address to address without end: check the URL"),
    (
        ("content-encoding", "compressed body", "after the end of the compressed"),
        "{host} sent a compressed answer that cannot be read",
    ),
    (("internal error",), "polling {host} hit an error of ours: the log has the details"),
)


def host_of(url: str) -> str:
    return urlsplit(url).hostname or url


def _http_sentence(code: int, host: str) -> str:
    if code == 404:
        return f"{host} has no feed at this address (HTTP 404 Not Found): check the URL"
    if code == 410:
        return f"{host} says the feed is gone for good (HTTP 410 Gone), so it was disabled"
    if code in (401, 403):
        return f"{host} refuses to let us read the feed (HTTP {code})"
    if code == 429:
        return f"{host} asks us to poll less often (HTTP 429 Too Many Requests)"
    if 500 <= code < 600:
        return f"{host} has a problem of its own (HTTP {code}): usually temporary"
    return f"{host} answered HTTP {code} instead of the feed"


def plain_error(error: str, url: str) -> str:
    """One sentence saying what went wrong with the feed at ``url`` and what to check."""
    host = host_of(url)
    low = error.lower()
    for words, sentence in _SENTENCES:
        if any(word in low for word in words):
            return sentence.format(host=host)
    status = _HTTP_STATUS.search(error)
    if status is not None:
        return _http_sentence(int(status.group(1)), host)
    return f"polling {host} failed"


@dataclass(frozen=True)
class Health:
    """``state`` is ok, warning (read, with a problem), failing, disabled or new;
    ``summary`` says it in plain words; ``raw`` is the stored error, as recorded."""

    state: str
    summary: str
    raw: str
    since: datetime | None = None  # when the problem was last seen

    @property
    def attention(self) -> bool:
        return self.state in ("failing", "warning")


def health_of(source: Source) -> Health:
    """The source's health as of its last poll."""
    raw = source.last_error or ""
    if not source.enabled:
        reason = source.disabled_reason or "disabled by an admin"
        return Health("disabled", f"Not polled: {reason}.", raw, source.last_error_at)
    if source.consecutive_failures:
        failures = source.consecutive_failures
        times = "once" if failures == 1 else f"{failures} times in a row"
        sentence = plain_error(raw, source.url)
        return Health(
            "failing", f"{_capital(sentence)} (failed {times}).", raw, source.last_error_at
        )
    if source.last_success_at is None:
        return Health("new", "Not polled yet.", raw)
    if raw and source.last_error_at is not None and source.last_error_at >= source.last_success_at:
        return Health(
            "warning", _capital(plain_error(raw, source.url)) + ".", raw, source.last_error_at
        )
    if source.last_empty_at is not None and source.last_empty_at >= source.last_success_at:
        return Health("warning", f"{host_of(source.url)} answered with an empty feed.", raw)
    return Health("ok", "Working.", raw)


def _capital(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]
