"""Connect only to public addresses, checked at the moment of connecting.

Checking a feed's host before the request is not enough: the HTTP client resolves the
name again when it connects, and a hostile DNS server can answer the second time with
127.0.0.1 or 10.0.0.5 (DNS rebinding). This network backend resolves the host itself,
checks every address, and connects to the address it checked, so each request resolves
the name once. TLS still verifies the certificate against the host name (httpcore passes
the origin's name to ``start_tls``). ``check_url_allowed`` (mailer/feeds/fetch.py) uses
the same resolution and check where a URL is accepted (``feeds add``).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable

import anyio
import httpcore
import httpx

from mailer.errors import FetchError, UnsafeURLError

# (host, port) -> the addresses it resolves to, in the resolver's order.
Resolver = Callable[[str, int], Awaitable[list[str]]]
# (host, address) -> None, or raises UnsafeURLError.
AddressCheck = Callable[[str, str], None]

# The pool limits httpx uses by default (httpx.DEFAULT_LIMITS).
MAX_CONNECTIONS = 100
MAX_KEEPALIVE = 20
KEEPALIVE_EXPIRY = 5.0


def refuse_non_public(host: str, address: str) -> None:
    """Raise UnsafeURLError unless ``address`` is a public (globally routable) one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global:
        raise UnsafeURLError(
            f"{host} is a private, loopback or reserved address ({ip}); feeds must be public. "
            "Set R2P_ALLOW_PRIVATE_FEEDS=true to allow it (tests and local demos)."
        )


def addresses_of(host: str, port: int | None = None) -> list[str]:
    """The host's addresses (a literal address is its own), without duplicates. Blocking;
    raises FetchError when the name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(
            f"cannot resolve {host} ({exc.strerror or exc}): offline, or a wrong URL?"
        ) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve(host: str, port: int) -> list[str]:
    return await anyio.to_thread.run_sync(addresses_of, host, port)


class CheckedAddressBackend(httpcore.AsyncNetworkBackend):
    """httpcore's AnyIO backend, except that ``connect_tcp`` resolves the host, checks
    every address (one refused address refuses the host) and connects to a checked one."""

    def __init__(
        self, check: AddressCheck = refuse_non_public, resolver: Resolver = resolve
    ) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._check = check
        self._resolve = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout} s") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            self._check(host, address)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeURLError("feeds are never fetched over a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def checked_transport(
    tls: ssl.SSLContext, backend: httpcore.AsyncNetworkBackend | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through ``CheckedAddressBackend``.

    httpx does not take a network backend, so the transport's connection pool is replaced
    by one that has it (tests/test_feed_guard.py fails if httpx stops using ``_pool``).
    """
    transport = httpx.AsyncHTTPTransport(verify=tls)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=tls,
        max_connections=MAX_CONNECTIONS,
        max_keepalive_connections=MAX_KEEPALIVE,
        keepalive_expiry=KEEPALIVE_EXPIRY,
        network_backend=backend or CheckedAddressBackend(),
    )
    return transport
