"""The poll job: fetch every enabled source concurrently, ingest what changed, record health.

One feed's failure never stops the others; each ends as one ``PollOutcome`` line. A
changed feed is parsed and normalised in a child process with bounded CPU time and memory
(mailer/feeds/isolate.py), outside the database writer's turn; what the server or the
document says is stored as plain text (``plain_text``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.db import run_with_retry, session_scope
from mailer.errors import ConfigError, FeedParseError, FetchError, SourceError
from mailer.feeds.fetch import FetchResult, fetch_feed, make_client
from mailer.feeds.isolate import ParseLimits, PreparedFeed, prepare_isolated
from mailer.feeds.registry import boilerplate_by_key, get_source, load_default_sources
from mailer.feeds.sanitise import plain_text
from mailer.feeds.store import record_failure, record_success, store_entries
from mailer.feeds.tagging import load_tagger
from mailer.models import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollOutcome:
    key: str
    status: str  # "new", "unchanged", "failed", "gone"
    new: int = 0
    seen: int = 0
    message: str = ""


@dataclass(frozen=True)
class _Target:
    id: int
    key: str
    url: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    # the source's summary boilerplate patterns, from its registry entry
    boilerplate: tuple[str, ...] = ()


# What parsing a changed body gave: the feed, or why it was refused.
Prepared = PreparedFeed | FeedParseError


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _prepare(
    result: FetchResult, fetched_at: datetime, limits: ParseLimits, target: _Target
) -> Prepared:
    """Parse a fetched body in the bounded child process (blocking)."""
    try:
        return prepare_isolated(
            result.body,
            content_type=result.content_type,
            fetched_at=fetched_at,
            limits=limits,
            boilerplate=target.boilerplate,
        )
    except FeedParseError as exc:
        return exc


def _registry_boilerplate(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Each source's summary boilerplate from the registry file; none (and an error in the
    log) when the file cannot be used, so a bad edit never stops the polling."""
    try:
        return boilerplate_by_key(load_default_sources(settings.sources_file))
    except ConfigError as exc:
        log.error("summary boilerplate not stripped this poll: %s", exc)
        return {}


def _targets(factory: sessionmaker[Session], key: str | None, settings: Settings) -> list[_Target]:
    boilerplate = _registry_boilerplate(settings)
    with session_scope(factory) as session:
        if key is not None:
            sources = [get_source(key, session=session)]
            if not sources[0].enabled:
                raise SourceError(f"source {key!r} is disabled; `feeds enable {key}` first")
        else:
            sources = list(
                session.scalars(select(Source).where(Source.enabled).order_by(Source.key))
            )
        return [
            _Target(
                s.id, s.key, s.url, s.etag, s.last_modified, s.body_hash, boilerplate.get(s.key, ())
            )
            for s in sources
        ]


def _ingest(
    factory: sessionmaker[Session],
    target: _Target,
    result: FetchResult,
    prepared: Prepared | None,
    *,
    now: datetime,
    settings: Settings,
    limits: ParseLimits,
) -> PollOutcome:
    """Store one fetched answer (runs in a worker thread). ``prepared`` is the parse of a
    body that differed from the stored hash when the poll started, else None. A lock or a
    lost connection rolls the store back and it runs again (``run_with_retry``)."""
    return run_with_retry(
        factory,
        lambda session: _store(
            session, target, result, prepared, now=now, settings=settings, limits=limits
        ),
    )


def _store(
    session: Session,
    target: _Target,
    result: FetchResult,
    prepared: Prepared | None,
    *,
    now: datetime,
    settings: Settings,
    limits: ParseLimits,
) -> PollOutcome:
    """One fetched answer into the database, in the caller's transaction."""
    source = session.get_one(Source, target.id)
    if result.moved_to:
        log.info("feed %s moved permanently to %s", target.key, result.moved_to)
        source.url = result.moved_to
    if result.status == 410:
        source.enabled = False
        source.disabled_reason = "the server answered 410 Gone"
        record_failure(source, at=now, reason="HTTP 410 Gone: source disabled")
        return PollOutcome(target.key, "gone", message="HTTP 410 Gone: source disabled")
    digest = _digest(result.body) if result.status == 200 else None
    source.etag, source.last_modified = result.etag, result.last_modified
    if result.status == 304 or digest == source.body_hash:
        record_success(source, at=now, entries_seen=None)
        return PollOutcome(target.key, "unchanged")
    if prepared is None:  # another poller stored a different body meanwhile
        prepared = _prepare(result, now, limits, target)
    if isinstance(prepared, FeedParseError):
        reason = plain_text(str(prepared), 1000)
        source.etag = source.last_modified = None
        record_failure(source, at=now, reason=reason)
        return PollOutcome(target.key, "failed", message=reason)
    parsed, entries = prepared, prepared.entries
    new = store_entries(
        source,
        entries,
        tagger=load_tagger(settings.relevance_file),
        fetched_at=now,
        session=session,
    )
    source.body_hash = digest
    if not source.title and parsed.title:
        source.title = plain_text(parsed.title, 200)
    record_success(source, at=now, entries_seen=len(entries))
    warning = plain_text(parsed.warning, 1000) if parsed.warning else None
    if warning:
        log.warning("feed %s: %s; kept %d entries", target.key, warning, len(entries))
        source.last_error, source.last_error_at = warning, now
    message = warning or ("answered 200 with 0 items" if not entries else "")
    return PollOutcome(target.key, "new", new=new, seen=len(entries), message=message)


def _record_fetch_failure(factory: sessionmaker[Session], target: _Target, reason: str) -> None:
    run_with_retry(
        factory,
        lambda session: record_failure(
            session.get_one(Source, target.id), at=datetime.now(UTC), reason=reason
        ),
    )


async def poll_sources(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    key: str | None = None,
    on_done: Callable[[PollOutcome], None] | None = None,
    parse_limits: ParseLimits | None = None,
) -> list[PollOutcome]:
    """Poll one source (``key``) or every enabled one; returns one outcome per source.
    ``parse_limits`` bounds each feed's parse (default ``ParseLimits()``)."""
    limits = parse_limits or ParseLimits()
    targets = await asyncio.to_thread(_targets, factory, key, settings)
    gate = asyncio.Semaphore(settings.poll_concurrency)
    # Parsing is CPU work: no more parser processes at once than there are cores.
    parse_gate = asyncio.Semaphore(max(1, min(settings.poll_concurrency, os.cpu_count() or 1)))
    # One writer at a time keeps SQLite happy and costs nothing on PostgreSQL at this scale.
    writer = asyncio.Lock()

    async def poll_one(client: httpx.AsyncClient, target: _Target) -> PollOutcome:
        try:
            async with gate:
                result = await fetch_feed(
                    client,
                    target.url,
                    settings=settings,
                    etag=target.etag,
                    last_modified=target.last_modified,
                )
            now = datetime.now(UTC)
            prepared = None
            if result.status == 200 and _digest(result.body) != target.body_hash:
                async with parse_gate:
                    prepared = await asyncio.to_thread(_prepare, result, now, limits, target)
            async with writer:
                outcome = await asyncio.to_thread(
                    _ingest,
                    factory,
                    target,
                    result,
                    prepared,
                    now=now,
                    settings=settings,
                    limits=limits,
                )
        except FetchError as exc:
            reason = plain_text(str(exc), 1000)
            async with writer:
                await asyncio.to_thread(_record_fetch_failure, factory, target, reason)
            outcome = PollOutcome(target.key, "failed", message=reason)
        except Exception as exc:
            # A bug on one feed must not stop the others; the trace goes to the log.
            log.exception("feed %s: unexpected error", target.key)
            reason = plain_text(f"internal error: {exc.__class__.__name__}: {exc}", 1000)
            async with writer:
                await asyncio.to_thread(_record_fetch_failure, factory, target, reason)
            outcome = PollOutcome(target.key, "failed", message=reason)
        if outcome.status == "failed":
            log.warning("feed %s failed: %s", target.key, outcome.message)
        else:
            log.info(
                "feed %s: %s, %d new of %d", target.key, outcome.status, outcome.new, outcome.seen
            )
        if on_done is not None:
            on_done(outcome)
        return outcome

    async with make_client(settings) as client:
        return list(await asyncio.gather(*(poll_one(client, t) for t in targets)))
