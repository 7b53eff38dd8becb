"""A rate limit holds under concurrent requests: twenty guesses sent at the same instant
get exactly ``limit`` through, on SQLite and on PostgreSQL (where, without a lock per key,
every transaction counted the same committed total and all of them passed)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from mailer.web.ratelimit import RateLimiter
from tests.conftest import Db

CLIENTS = 20
LIMIT = 5


def test_simultaneous_attempts_get_exactly_the_limit_through(db: Db) -> None:
    limiter = RateLimiter(
        "login-pair", LIMIT, timedelta(minutes=15), factory=db.factory, secret="s" * 32
    )
    now = datetime.now(UTC)
    start = threading.Barrier(CLIENTS)
    granted: list[int | None] = []
    guard = threading.Lock()

    def attempt() -> None:
        start.wait()
        hit = limiter.take("admin@example.org|198.51.100.0", now)
        with guard:
            granted.append(hit)

    threads = [threading.Thread(target=attempt) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == CLIENTS
    assert sum(hit is not None for hit in granted) == LIMIT
    assert limiter.count("admin@example.org|198.51.100.0", now) == LIMIT
