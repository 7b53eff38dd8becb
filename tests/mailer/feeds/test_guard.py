"""The feed client connects only to addresses it has checked, at connect time (no DNS
rebinding): real connections to the loopback feed server, with the resolver swapped in
where a test needs a name to answer differently than this machine's DNS would."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from mailer.errors import FetchError, UnsafeURLError
from mailer.feeds.fetch import _tls_context, make_client
from mailer.feeds.guard import (
    AddressCheck,
    CheckedAddressBackend,
    Resolver,
    checked_transport,
    refuse_non_public,
)
from tests.conftest import make_settings
from tests.support.feedserver import FeedServer

BODY = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


def answering(*addresses: str) -> Resolver:
    async def resolver(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolver


def allow_all(seen: list[tuple[str, str]]) -> AddressCheck:
    def check(host: str, address: str) -> None:
        seen.append((host, address))

    return check


def get(url: str, backend: CheckedAddressBackend | None = None, **headers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = checked_transport(_tls_context(), backend)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.get(url, headers=headers)

    return asyncio.run(go())


def test_the_feed_client_refuses_a_private_address_at_connect_time(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """As if the name had passed the early check and then been rebound to loopback."""
    url = feed_server.serve_bytes("/feed.xml", BODY)
    port = urlsplit(url).port
    settings = make_settings(tmp_path, allow_private_feeds=False)

    async def fetch(target: str) -> None:
        async with make_client(settings) as client:
            await client.get(target)

    for target in (f"http://localhost:{port}/feed.xml", f"http://127.0.0.1:{port}/feed.xml"):
        with pytest.raises(UnsafeURLError, match="R2P_ALLOW_PRIVATE_FEEDS"):
            asyncio.run(fetch(target))
    assert feed_server.requests_to("/feed.xml") == []


def test_with_private_feeds_allowed_the_client_connects_anywhere(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = feed_server.serve_bytes("/feed.xml", BODY)

    async def fetch() -> int:
        async with make_client(make_settings(tmp_path, allow_private_feeds=True)) as client:
            return (await client.get(url)).status_code

    assert asyncio.run(fetch()) == 200


def test_a_rebound_name_is_refused_and_nothing_is_sent(feed_server: FeedServer) -> None:
    url = feed_server.serve_bytes("/feed.xml", BODY)
    port = urlsplit(url).port
    backend = CheckedAddressBackend(resolver=answering("127.0.0.1"))
    with pytest.raises(UnsafeURLError, match=r"feeds\.example\.org .*127\.0\.0\.1"):
        get(f"http://feeds.example.org:{port}/feed.xml", backend)
    assert feed_server.requests_to("/feed.xml") == []


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    backend = CheckedAddressBackend(resolver=answering("93.184.216.34", "10.0.0.5"))
    with pytest.raises(UnsafeURLError, match=r"10\.0\.0\.5"):
        get("http://feeds.example.org/feed.xml", backend)


def test_the_connection_goes_to_the_checked_address_under_the_feeds_own_name(
    feed_server: FeedServer,
) -> None:
    url = feed_server.serve_bytes("/feed.xml", BODY)
    port = urlsplit(url).port
    seen: list[tuple[str, str]] = []
    backend = CheckedAddressBackend(
        check=allow_all(seen),
        resolver=answering("127.0.0.1"),
    )
    response = get(f"http://feeds.example.org:{port}/feed.xml", backend)
    assert response.status_code == 200 and response.content == BODY
    assert seen == [("feeds.example.org", "127.0.0.1")]
    assert feed_server.requests_to("/feed.xml")[0].headers["Host"] == f"feeds.example.org:{port}"


def test_an_address_that_refuses_the_connection_falls_through_to_the_next(
    feed_server: FeedServer,
) -> None:
    url = feed_server.serve_bytes("/feed.xml", BODY)
    port = urlsplit(url).port
    seen: list[tuple[str, str]] = []
    backend = CheckedAddressBackend(
        check=allow_all(seen),
        resolver=answering("127.0.0.2", "127.0.0.1"),
    )
    assert get(f"http://feeds.example.org:{port}/feed.xml", backend).status_code == 200
    assert [address for _, address in seen] == ["127.0.0.2", "127.0.0.1"]


def test_a_name_that_does_not_resolve_says_so() -> None:
    with pytest.raises(FetchError, match=r"cannot resolve no-such-host\.invalid"):
        get("http://no-such-host.invalid/feed.xml")


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1",
     "fe80::1%eth0", "::ffff:127.0.0.1", "fc00::1", "0.0.0.0", "100.64.0.1"],
)  # fmt: skip
def test_private_loopback_link_local_and_reserved_addresses_are_refused(address: str) -> None:
    with pytest.raises(UnsafeURLError):
        refuse_non_public("feeds.example.org", address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1"])
def test_public_addresses_pass(address: str) -> None:
    refuse_non_public("feeds.example.org", address)
