"""The tests' wait helper: it returns once the condition holds, and fails saying what never
happened when the deadline passes."""

from __future__ import annotations

import threading

import pytest

from tests.support.waiting import wait_until


def test_wait_until_returns_once_another_thread_makes_the_condition_true() -> None:
    done = threading.Event()
    threading.Timer(0.05, done.set).start()
    wait_until(done.is_set, 10, message="the timer")
    assert done.is_set()


def test_wait_until_fails_naming_what_was_awaited_when_the_deadline_passes() -> None:
    with pytest.raises(AssertionError, match=r"^the reply not reached in 0\.05 s$"):
        wait_until(lambda: False, 0.05, message="the reply")
