"""The feed address guard refuses the IPv6 transition ranges that lead to a private IPv4
address, the ranges that cannot be judged (local-use NAT64, Teredo, IPv4-compatible), and
multicast and reserved ranges: as literal addresses, as DNS answers, and after a redirect.
Real connections to the loopback feed server; the resolver is swapped where a name must
answer with a chosen address."""

from __future__ import annotations

import asyncio
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from mailer.errors import FetchError, UnsafeURLError
from mailer.feeds.fetch import _tls_context, fetch_feed
from mailer.feeds.guard import CheckedAddressBackend, checked_transport, refuse_non_public
from tests.conftest import make_settings
from tests.support.feedserver import FeedServer

BODY = b"<rss version='2.0'><channel><title>t</title></channel></rss>"

REFUSED = [
    # NAT64 well-known prefix (RFC 6052) around loopback, private, metadata addresses
    "64:ff9b::7f00:1",
    "64:ff9b::a00:5",
    "64:ff9b::a9fe:a9fe",
    # local-use NAT64 (RFC 8215): refused whatever it carries
    "64:ff9b:1::a00:1",
    "64:ff9b:1::808:808",
    # 6to4 around loopback and private
    "2002:7f00:1::1",
    "2002:c0a8:101::1",
    # IPv4-compatible (deprecated): refused whatever it carries
    "::127.0.0.1",
    "::10.0.0.1",
    "::8.8.8.8",
    # IPv4-mapped and IPv4-translated around private addresses
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0:10.0.0.1",
    "::ffff:0:127.0.0.1",
    # Teredo
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    # multicast, IPv6 and IPv4, and through a transition prefix
    "ff02::1",
    "ff05::2",
    "ff0e::1",
    "224.0.0.1",
    "239.255.255.250",
    "64:ff9b::e000:1",
    # reserved and documentation ranges
    "fec0::1",
    "3fff::1",
    "2001:db8::1",
    "192.0.2.1",
    "198.51.100.7",
    "203.0.113.9",
    "192.88.99.1",
    "240.0.0.1",
]

PUBLIC = [
    "93.184.216.34",
    "2606:2800:220:1::1",
    "::ffff:93.184.216.34",
    # what DNS64 answers for an IPv4-only host on an IPv6-only network
    "64:ff9b::5db8:d822",
    "2002:5db8:d822::1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_transition_multicast_and_reserved_addresses_are_refused(address: str) -> None:
    with pytest.raises(UnsafeURLError, match="R2P_ALLOW_PRIVATE_FEEDS"):
        refuse_non_public("feeds.example.org", address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_and_transition_forms_of_them_pass(address: str) -> None:
    refuse_non_public("feeds.example.org", address)


def test_the_refusal_names_the_ipv4_address_inside() -> None:
    with pytest.raises(UnsafeURLError, match=r"64:ff9b::7f00:1, which leads to 127\.0\.0\.1"):
        refuse_non_public("feeds.example.org", "64:ff9b::7f00:1")
    with pytest.raises(UnsafeURLError, match="multicast"):
        refuse_non_public("feeds.example.org", "ff02::1")


def answering(table: dict[str, str]):  # type: ignore[no-untyped-def]
    async def resolver(host: str, port: int) -> list[str]:
        return [table.get(host, host)]  # a literal address answers itself

    return resolver


def loopback_only_then_guard(host: str, address: str) -> None:
    """The feed server itself is on loopback; every other address gets the real guard."""
    if address != "127.0.0.1":
        refuse_non_public(host, address)


def fetch(url: str, backend: CheckedAddressBackend, tmp_path: Path) -> None:
    async def go() -> None:
        transport = checked_transport(_tls_context(), backend)
        async with httpx.AsyncClient(transport=transport) as client:
            await fetch_feed(client, url, settings=make_settings(tmp_path))

    asyncio.run(go())


@pytest.mark.parametrize(
    "address", ["64:ff9b::7f00:1", "2002:a00:1::1", "::ffff:10.0.0.1", "ff02::1"]
)
def test_a_dns_answer_in_a_refused_range_is_refused_and_nothing_is_sent(
    address: str, feed_server: FeedServer, tmp_path: Path
) -> None:
    url = feed_server.serve_bytes("/feed.xml", BODY)
    port = urlsplit(url).port
    backend = CheckedAddressBackend(resolver=answering({"feeds.example.org": address}))
    with pytest.raises(UnsafeURLError, match=r"feeds\.example\.org"):
        fetch(f"http://feeds.example.org:{port}/feed.xml", backend, tmp_path)
    assert feed_server.requests_to("/feed.xml") == []


@pytest.mark.parametrize(
    "location",
    [
        "http://[64:ff9b::7f00:1]:{port}/secret",
        "http://[::ffff:0:127.0.0.1]:{port}/secret",
        "http://[2002:7f00:1::1]:{port}/secret",
        "http://[::127.0.0.1]:{port}/secret",
        "http://[ff02::1]:{port}/secret",
        "http://evil.example:{port}/secret",  # a name whose DNS answer is NAT64 loopback
    ],
)
def test_a_redirect_into_a_refused_range_is_refused(
    location: str, feed_server: FeedServer, tmp_path: Path
) -> None:
    url = feed_server.serve_bytes("/secret", b"internal")
    port = urlsplit(url).port

    def redirect(request: BaseHTTPRequestHandler) -> None:
        request.send_response(302)
        request.send_header("Location", location.format(port=port))
        request.send_header("Content-Length", "0")
        request.end_headers()

    feed_server.serve("/feed.xml", redirect)
    backend = CheckedAddressBackend(
        check=loopback_only_then_guard,
        resolver=answering({"feeds.example.org": "127.0.0.1", "evil.example": "64:ff9b::7f00:1"}),
    )
    with pytest.raises(FetchError, match="R2P_ALLOW_PRIVATE_FEEDS"):
        fetch(f"http://feeds.example.org:{port}/feed.xml", backend, tmp_path)
    assert len(feed_server.requests_to("/feed.xml")) == 1
    assert feed_server.requests_to("/secret") == []
