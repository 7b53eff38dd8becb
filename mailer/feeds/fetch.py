"""Fetching a feed politely and safely.

Conditional GET (ETag / Last-Modified), an identifying User-Agent, a deadline for the whole
exchange, a byte cap applied after decompression (so a gzip bomb stops at the cap), a
bounded number of redirects checked one by one, http/https only, and no private or
loopback addresses unless R2P_ALLOW_PRIVATE_FEEDS is set, checked at connect time
(mailer/feeds/guard.py), so fetch only with a client from ``make_client``. What the server
says (reason phrase, Location, Content-Encoding) goes into error messages as plain text
(``plain_text``: no control characters or escape sequences, bounded).
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import httpx

from mailer.config import Settings
from mailer.errors import FeedTooLargeError, FetchError, UnsafeURLError
from mailer.feeds.guard import addresses_of, checked_transport, refuse_non_public
from mailer.feeds.sanitise import plain_text

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PERMANENT_REDIRECTS = {301, 308}
REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class FetchResult:
    """What the server answered: 200 with a body, 304 unchanged, or 410 gone."""

    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    moved_to: str | None = None


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~30 ms: once per process, not once per poll.
    return ssl.create_default_context()


def make_client(settings: Settings) -> httpx.AsyncClient:
    """The feed client. Unless private feeds are allowed, every connection goes to an
    address checked at connect time (mailer/feeds/guard.py: no DNS rebinding)."""
    seconds = settings.feed_timeout.total_seconds()
    transport = None if settings.allow_private_feeds else checked_transport(_tls_context())
    return httpx.AsyncClient(
        verify=_tls_context(),
        transport=transport,
        timeout=httpx.Timeout(seconds, connect=min(seconds, 10.0)),
        follow_redirects=False,
        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT},
    )


def check_url_form(url: str) -> str:
    """The URL's host, if it is an absolute http(s) URL; raises UnsafeURLError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise UnsafeURLError(f"'{plain_text(url)}': only http:// and https:// feeds are fetched")
    if not parts.hostname:
        raise UnsafeURLError(f"'{plain_text(url)}': the URL has no host")
    return parts.hostname


def check_url_allowed(url: str, *, allow_private: bool) -> None:
    """Refuse non-http(s) URLs, and hosts that resolve to non-public addresses: for a URL
    being accepted (``feeds add``). Fetching checks each address as it connects
    (mailer/feeds/guard.py). Blocking (it resolves the host)."""
    host = check_url_form(url)
    if allow_private:
        return
    for address in addresses_of(host):
        refuse_non_public(host, address)


def _decoder(encoding: str) -> zlib._Decompress | None:
    encoding = encoding.strip().lower()
    if encoding in {"", "identity"}:
        return None
    if encoding in {"gzip", "x-gzip"}:
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise FetchError(
        f"the server sent an unsupported Content-Encoding '{plain_text(encoding, 100)}'"
    )


async def read_capped(response: httpx.Response, cap: int) -> bytes:
    """The decoded body. Neither the bytes received nor the bytes decoded may pass
    ``cap``, and no more than one chunk past it is ever held."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap and "content-encoding" not in response.headers:
        raise FeedTooLargeError(f"the body is {int(declared):,} bytes, over the {cap:,} byte cap")
    decoder = _decoder(response.headers.get("content-encoding", ""))
    body = bytearray()
    received = 0
    try:
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > cap:  # compressed bytes count too: padding after the stream
                raise FeedTooLargeError(
                    f"the server sent over the {cap:,} byte cap (R2P_FEED_MAX_BYTES)"
                )
            if decoder is None:
                body += chunk
            elif decoder.eof:
                raise FetchError("the server sent data after the end of the compressed body")
            else:
                pending = chunk
                while pending and len(body) <= cap:
                    body += decoder.decompress(pending, cap + 1 - len(body))
                    pending = decoder.unconsumed_tail
            if len(body) > cap:
                raise FeedTooLargeError(
                    f"the body is over the {cap:,} byte cap (R2P_FEED_MAX_BYTES)"
                    + (" after decompression" if decoder is not None else "")
                )
        if decoder is not None:
            body += decoder.flush()
    except zlib.error as exc:
        raise FetchError(f"the compressed body is corrupt ({exc})") from None
    if len(body) > cap:
        raise FeedTooLargeError(f"the body is over the {cap:,} byte cap (R2P_FEED_MAX_BYTES)")
    return bytes(body)


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    settings: Settings,
) -> FetchResult:
    headers = {"Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current, moved_to, all_permanent = url, None, True
    for _hop in range(settings.feed_max_redirects + 1):
        check_url_form(current)  # the addresses are checked as the client connects
        async with client.stream("GET", current, headers=headers) as response:
            if response.status_code in REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"HTTP {response.status_code} redirect without a Location")
                current = urljoin(current, location)
                all_permanent = all_permanent and response.status_code in PERMANENT_REDIRECTS
                moved_to = current if all_permanent else None
                continue
            if response.status_code == 304:
                return FetchResult(
                    status=304, etag=etag, last_modified=last_modified, moved_to=moved_to
                )
            if response.status_code == 410:
                return FetchResult(status=410, moved_to=moved_to)
            if response.status_code != 200:
                reason = plain_text(response.reason_phrase, 200)
                raise FetchError(f"HTTP {response.status_code} {reason}".strip())
            body = await read_capped(response, settings.feed_max_bytes)
            return FetchResult(
                status=200,
                body=body,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                content_type=response.headers.get("content-type"),
                moved_to=moved_to,
            )
    raise FetchError(
        f"more than {settings.feed_max_redirects} redirects (a redirect loop?); "
        f"last was {plain_text(current)}"
    )


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    settings: Settings,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """Fetch one feed within R2P_FEED_TIMEOUT; failures raise FetchError with the reason."""
    seconds = settings.feed_timeout.total_seconds()
    try:
        async with asyncio.timeout(seconds):
            return await _fetch(
                client, url, etag=etag, last_modified=last_modified, settings=settings
            )
    except TimeoutError:
        raise FetchError(f"no complete answer within {seconds:g} s (R2P_FEED_TIMEOUT)") from None
    except httpx.TimeoutException:
        raise FetchError(f"the server stopped answering for {seconds:g} s") from None
    except httpx.ConnectError as exc:
        raise FetchError(
            f"cannot connect: {plain_text(str(exc)) or 'connection refused'}"
        ) from None
    except httpx.HTTPError as exc:
        raise FetchError(f"HTTP error: {exc.__class__.__name__}: {plain_text(str(exc))}") from None
