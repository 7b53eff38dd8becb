"""Per-network signup limit: at most N form submissions per window from one address.

Kept in memory, per web process: enough for `r2p-mailer run` and a single `web`, and
each of several web processes enforces its own count. IPv6 clients are counted per /64,
the block one household or machine usually gets.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import deque
from datetime import datetime, timedelta

MAX_TRACKED = 100_000


def client_key(host: str | None) -> str:
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class RateLimiter:
    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: datetime) -> bool:
        """Count one attempt for ``key``; False when it is over the limit (not counted)."""
        with self._lock:
            if len(self._hits) >= MAX_TRACKED:
                self._forget_idle(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def _forget_idle(self, now: datetime) -> None:
        cutoff = now - self.window
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
            del self._hits[key]
        if len(self._hits) >= MAX_TRACKED:
            # Every tracked network is active: forget the quietest half rather than grow.
            by_last = sorted(self._hits, key=lambda k: self._hits[k][-1])
            for key in by_last[: len(by_last) // 2]:
                del self._hits[key]
