"""Parsing one feed in a child process whose CPU time and memory are bounded.

The XML guard (mailer/feeds/xmlguard.py) refuses the known bombs; this bounds what is
left (a parser pathology, a feed of 300,000 empty items, a library bug). Each parse runs
in a fresh process forked from a fork server that has the parser modules loaded already
(a few milliseconds a parse once it runs), with

- ``RLIMIT_CPU``: the kernel stops the child after ``cpu_seconds`` of CPU time;
- ``RLIMIT_AS``: allocations past ``memory_bytes`` more than the child started with fail
  (MemoryError), so the child reports it and ends;
- a wall-clock deadline in the parent, which kills the child (a machine so busy that the
  child gets no CPU, or a child stuck without using any).

Any of them ends as FeedTooExpensiveError ("feed too expensive to parse: ..."), recorded
on that source like any parse failure; the other feeds of the poll go on. The child also
normalises the entries (sanitising their HTML), which is the other costly step, and keeps
at most ``MAX_ENTRIES`` of them.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from mailer.errors import FeedParseError
from mailer.feeds.normalise import Entry, compile_boilerplate, normalise_entry
from mailer.feeds.parse import parse_feed

# A news feed carries tens of items; a thousand is generous and bounds the storing too.
MAX_ENTRIES = 1000


class FeedTooExpensiveError(FeedParseError):
    """Parsing one feed passed its CPU-time, memory or wall-clock bound."""


@dataclass(frozen=True)
class ParseLimits:
    """The bounds of one feed's parse. A real 2 MB feed takes about 2 s of CPU and 40 MB;
    a typical 50-item feed 0.1 s."""

    cpu_seconds: int = 10
    memory_bytes: int = 256 * 1024 * 1024
    wall_seconds: float = 30.0


@dataclass(frozen=True)
class PreparedFeed:
    """A parsed feed's title, its normalised entries and the parser's warning, if any."""

    title: str
    entries: list[Entry]
    warning: str | None


def prepare(
    body: bytes,
    *,
    content_type: str | None,
    fetched_at: datetime,
    boilerplate: tuple[str, ...] = (),
) -> PreparedFeed:
    """Parse and normalise in this process (the child's work; unbounded on its own);
    ``boilerplate`` is the source's summary boilerplate patterns (registry data)."""
    parsed = parse_feed(body, content_type=content_type)
    warning = parsed.warning
    raw = parsed.entries
    if len(raw) > MAX_ENTRIES:
        note = f"kept the first {MAX_ENTRIES:,} of {len(raw):,} entries"
        warning = f"{warning}; {note}" if warning else note
        raw = raw[:MAX_ENTRIES]
    patterns = compile_boilerplate(boilerplate)
    entries = [normalise_entry(entry, fetched_at=fetched_at, boilerplate=patterns) for entry in raw]
    return PreparedFeed(title=parsed.title, entries=entries, warning=warning)


def _address_space() -> int | None:
    """This process's virtual memory size in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm") as statm:  # noqa: PTH123 - one read of a proc file
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _apply_limits(limits: ParseLimits) -> None:
    import resource

    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(used.ru_utime + used.ru_stime) + limits.cpu_seconds
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    # SIGXCPU at the soft limit ends the child; SIGKILL one second later if it is caught.
    resource.setrlimit(
        resource.RLIMIT_CPU, (soft, soft + 1 if hard == resource.RLIM_INFINITY else hard)
    )
    start = _address_space()
    if start is not None:
        resource.setrlimit(resource.RLIMIT_AS, (start + limits.memory_bytes,) * 2)


def _child(
    send: Connection,
    body: bytes,
    content_type: str | None,
    fetched_at: datetime,
    limits: ParseLimits,
    boilerplate: tuple[str, ...],
) -> None:
    _apply_limits(limits)
    answer: tuple[str, Any]
    try:
        prepared = prepare(
            body, content_type=content_type, fetched_at=fetched_at, boilerplate=boilerplate
        )
        answer = ("ok", prepared)
    except FeedParseError as exc:
        answer = ("refused", str(exc))
    except MemoryError:
        answer = ("memory", None)
    except Exception as exc:
        answer = ("bug", f"{exc.__class__.__name__}: {exc}")
    send.send(answer)
    send.close()


@lru_cache(maxsize=1)
def _context() -> BaseContext:
    """A fork server with the parser loaded (forking the poller itself, which runs threads,
    is unsafe); spawn where there is no fork server."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["mailer.feeds.forkserver_preload"])
        return context
    return multiprocessing.get_context("spawn")


def _death(exitcode: int | None, limits: ParseLimits) -> FeedParseError:
    if exitcode == -signal.SIGXCPU:
        return FeedTooExpensiveError(
            f"feed too expensive to parse: over {limits.cpu_seconds} s of CPU time"
        )
    if exitcode in (-signal.SIGKILL, -signal.SIGABRT):
        # SIGKILL: the hard CPU limit or the kernel's OOM killer; SIGABRT: native code
        # (nh3) aborts when an allocation fails under RLIMIT_AS.
        return FeedTooExpensiveError(
            "feed too expensive to parse: the parser was stopped (over its CPU time "
            "or out of memory)"
        )
    return FeedParseError(f"the parser process ended without an answer (exit code {exitcode})")


def prepare_isolated(
    body: bytes,
    *,
    content_type: str | None,
    fetched_at: datetime,
    limits: ParseLimits | None = None,
    boilerplate: tuple[str, ...] = (),
) -> PreparedFeed:
    """``prepare`` in a bounded child process. Blocking: run it in a worker thread.

    Raises FeedTooExpensiveError past a bound, FeedParseError for a refused or unreadable
    document, RuntimeError for a bug in the parser (with the child's message)."""
    limits = limits or ParseLimits()
    context = _context()
    receive, send = context.Pipe(duplex=False)
    child = context.Process(  # type: ignore[attr-defined]
        target=_child,
        args=(send, body, content_type, fetched_at, limits, boilerplate),
        name="r2p-feed-parse",
        daemon=True,
    )
    try:
        child.start()
        send.close()
        if not receive.poll(limits.wall_seconds):
            raise FeedTooExpensiveError(
                f"feed too expensive to parse: no result within {limits.wall_seconds:g} s"
            )
        try:
            kind, payload = receive.recv()
        except (EOFError, OSError):  # OSError: the child died partway through its answer
            child.join(limits.wall_seconds)
            raise _death(child.exitcode, limits) from None
    finally:
        send.close()
        if child.pid is not None:
            if child.is_alive():
                child.kill()
            child.join()
        receive.close()
    if kind == "ok":
        assert isinstance(payload, PreparedFeed)
        return payload
    if kind == "refused":
        raise FeedParseError(payload)
    if kind == "memory":
        mib = limits.memory_bytes // (1024 * 1024)
        raise FeedTooExpensiveError(f"feed too expensive to parse: needed over {mib} MiB")
    raise RuntimeError(f"the feed parser failed: {payload}")
