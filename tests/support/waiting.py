"""Waiting for something another thread or process does: poll a condition until a
deadline, instead of sleeping a fixed time and then asserting."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_INTERVAL = 0.02


def wait_until(condition: Callable[[], object], limit: float = 60.0, *, message: str = "") -> None:
    """Return as soon as ``condition()`` is true; fail the test with ``message`` (what was
    awaited) when it is still false after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message or 'the condition'} not reached in {limit:g} s")
        time.sleep(POLL_INTERVAL)
