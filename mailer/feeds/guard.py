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


# Refused whatever Python's ``is_global`` says (it differs between Python versions).
_REFUSED_NETWORKS = [
    ipaddress.ip_network(network)
    for network in (
        # IPv4: this network, private, shared (CGNAT), loopback, link-local, IETF protocol,
        # documentation, the deprecated 6to4 relay anycast, benchmarking, multicast,
        # reserved, broadcast.
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        # IPv6: IPv4-compatible (deprecated; includes :: and ::1), local-use NAT64 (its
        # embedding depends on the operator's prefix), discard-only, IETF protocol
        # assignments (Teredo 2001::/32 included), documentation, SRv6 SIDs, unique local,
        # link-local, site-local (deprecated), multicast.
        "::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
        "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
]  # fmt: skip
# IPv6 ranges that carry an IPv4 address in their last 32 bits: IPv4-mapped, IPv4-translated
# (SIIT) and the well-known NAT64 prefix (what DNS64 answers for an IPv4-only host). They
# reach that IPv4 address, so it is the one checked.
_IPV4_IN_LAST_32_BITS = [
    ipaddress.IPv6Network(network)
    for network in ("::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96")
]


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition address leads to (mapped, translated, NAT64
    well-known prefix, 6to4), or None."""
    if any(ip in network for network in _IPV4_IN_LAST_32_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        ip.is_global
        and not ip.is_multicast
        and not any(ip in network for network in _REFUSED_NETWORKS)
    )


def refuse_non_public(host: str, address: str) -> None:
    """Raise UnsafeURLError unless ``address`` is a public (globally routable, unicast)
    one; an IPv6 address that embeds an IPv4 address is judged by that IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    inner = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if inner is not None:
        if _is_public(inner):
            return
        shown = f"{ip}, which leads to {inner}"
    elif _is_public(ip):
        return
    else:
        shown = str(ip)
    kind = "multicast" if (inner or ip).is_multicast else "private, loopback or reserved"
    raise UnsafeURLError(
        f"{host} is a {kind} address ({shown}); feeds must be public. "
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
