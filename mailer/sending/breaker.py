"""A circuit breaker for one relay, and the send counters a worker reports.

``Breaker`` watches every reply: R2P_BREAKER_FAILURES relay failures in a row (connection
refused or lost, timeouts, TLS failures, 421s or other 4xx, across recipients) open it. While
open the worker claims nothing and sends one probe message every R2P_BREAKER_PROBE_EVERY
(the breaker is "half-open" during the probe); any real answer from the relay (a 2xx, or a
5xx about one address or message) closes it, and a failure opens it again.

``Counters`` and ``RateWindow`` are the figures a worker writes to worker_status:
attempts, sends, retries, failures and errors by class since it started, and messages sent
a second over the last minute.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from mailer.sending.base import ErrorClass, SendResult

State = Literal["closed", "open", "half-open"]
# Failures that say the relay (not one reader or one message) is in trouble.
RELAY_FAILURES: frozenset[ErrorClass | None] = frozenset(
    {"connection", "timeout", "tls", "421", "4xx"}
)


def is_relay_failure(result: SendResult) -> bool:
    return result.error_class in RELAY_FAILURES


@dataclass
class Breaker:
    failures: int
    probe_every: float
    clock: Callable[[], float] = time.monotonic
    state: State = "closed"
    reason: str = ""
    since: float = 0.0  # clock() when it last left "closed" (or closed again)
    changed_at: datetime | None = None  # the same moment, as a date for worker_status
    run: int = 0  # relay failures in a row while closed
    _next_probe: float = 0.0

    def record(self, result: SendResult) -> bool:
        """Take one reply into account; True when the breaker opened or closed."""
        if is_relay_failure(result):
            if self.state == "closed":
                self.run += 1
                if self.run < self.failures:
                    return False
                self.reason = _describe(result, self.run)
                self._set("open")
                return True
            if self.state == "half-open":  # the probe failed: wait for the next one
                self.reason = _describe(result, self.run)
                self.state = "open"
                self._next_probe = self.clock() + self.probe_every
            return False
        self.run = 0
        if self.state == "closed":
            return False
        self.reason = ""
        self._set("closed")
        return True

    def probe_due(self, *, now: float | None = None) -> bool:
        """Open, and the next probe's time has come."""
        return self.state == "open" and (self.clock() if now is None else now) >= self._next_probe

    def seconds_to_probe(self) -> float:
        return max(0.0, self._next_probe - self.clock())

    def probing(self) -> None:
        """A probe message is about to be sent."""
        self.state = "half-open"

    def no_probe(self) -> None:
        """Nothing was due to probe with: stay open, look again later."""
        self.state = "open"
        self._next_probe = self.clock() + self.probe_every

    def _set(self, state: State) -> None:
        self.state = state
        self.since = self.clock()
        self.changed_at = datetime.now(UTC)
        self._next_probe = self.since + self.probe_every
        if state == "closed":
            self.run = 0


def _describe(result: SendResult, run: int) -> str:
    reply = f"{result.code} {result.reply}".strip() if result.code else result.reply
    return f"{run} relay failures in a row; last: {reply}"[:500]


@dataclass
class Counters:
    """Send outcomes since the worker started (the worker_status counters contract)."""

    attempts: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, result: SendResult) -> None:
        self.attempts += 1
        if result.verdict == "sent":
            self.sent += 1
        elif result.verdict == "retry":
            self.retried += 1
        else:
            self.failed += 1
        error = result.error_class
        if error is not None:
            self.errors[error] = self.errors.get(error, 0) + 1

    def as_json(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "sent": self.sent,
            "retried": self.retried,
            "failed": self.failed,
            "errors": dict(self.errors),
        }


@dataclass
class RateWindow:
    """Messages sent a second over the last ``span`` seconds (or since the start, if
    shorter), from counts kept per second."""

    span: int = 60
    clock: Callable[[], float] = time.monotonic
    started: float = field(default_factory=time.monotonic)
    _seconds: deque[list[int]] = field(default_factory=deque)

    def add(self, count: int = 1) -> None:
        second = int(self.clock())
        if self._seconds and self._seconds[-1][0] == second:
            self._seconds[-1][1] += count
        else:
            self._seconds.append([second, count])
        self._trim(second)

    def rate(self) -> float:
        now = self.clock()
        self._trim(int(now))
        window = min(float(self.span), max(now - self.started, 1.0))
        return sum(n for _, n in self._seconds) / window

    def _trim(self, second: int) -> None:
        while self._seconds and self._seconds[0][0] <= second - self.span:
            self._seconds.popleft()
