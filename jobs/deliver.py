"""The delivery worker: claim a batch, build each message, send, settle.

``handle_one()`` does one unit and says whether more may be waiting; ``run()`` only loops
and handles stopping. Each (campaign, content key) is rendered and MIME-encoded once; a
reader's message is that template with their address, Message-ID, Date and signed links
joined in, so personalising costs microseconds, not a render.

While a batch is sent, replies are recorded every 100 ms or 100 messages (a crash repeats
at most that much plus what is in flight), and each time the worker asks whether more
urgent work is due: if so it stops taking messages from the batch, gives back the rest,
and claims the urgent rows next. ``wake()`` makes it ask at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.content import render_contents
from mailer.db import session_scope
from mailer.email.compose import MessageTemplate, build_template, date_header, message_id_for
from mailer.email.dkim import DkimSigner
from mailer.models import Campaign
from mailer.outbox import (
    Claimed,
    Settled,
    claim,
    finish_campaigns,
    higher_priority_due,
    release,
    renew_lease,
    settle,
)
from mailer.sending.base import Sender, SendResult
from mailer.tokens import Purpose, link, make_token

log = logging.getLogger(__name__)

LINK_SLOTS = {
    "unsubscribe_url": ("unsubscribe", Purpose.UNSUBSCRIBE),
    "preferences_url": ("preferences", Purpose.MANAGE),
    "confirm_url": ("confirm", Purpose.CONFIRM),
    "data_url": ("data", Purpose.DATA),
}
# Claims come grouped by content, so a batch needs few templates; the cache only has to
# bridge a content that spans batches, and retries.
TEMPLATE_CACHE = 64
SETTLE_EVERY = 0.1  # seconds between recording replies while a batch is sent ...
SETTLE_AFTER = 100  # ... or messages, whichever comes first


@dataclass
class Progress:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    released: int = 0

    def add(self, counts: dict[str, int]) -> None:
        self.sent += counts.get("sent", 0)
        self.retry += counts.get("retry", 0)
        self.failed += counts.get("failed", 0)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class DeliveryWorker:
    settings: Settings
    factory: sessionmaker[Session]
    sender: Sender
    name: str = field(default_factory=worker_name)
    on_progress: Callable[[Progress], None] | None = None
    progress: Progress = field(default_factory=Progress)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    renders: int = 0  # contents rendered so far (each distinct content once, if cached)
    _templates: OrderedDict[tuple[int, str], MessageTemplate] = field(default_factory=OrderedDict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _nudge: asyncio.Event = field(default_factory=asyncio.Event)
    _date: tuple[int, str] = (0, "")
    _signer: DkimSigner | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    healthy: bool = True

    def __post_init__(self) -> None:
        self._signer = DkimSigner.from_settings(self.settings)
        self._envelope_from = self.settings.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()

    def stop(self) -> None:
        """Stop claiming; the batch in flight is finished or released."""
        self._stopping.set()
        self.wake()

    def wake(self) -> None:
        """Something was just queued (an approved alert): look now, not at the next tick.

        Safe from any thread (scheduled jobs run in a thread pool)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._wake.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_now()
        else:
            loop.call_soon_threadsafe(self._wake_now)

    def _wake_now(self) -> None:
        self._wake.set()  # an idle worker claims at once
        self._nudge.set()  # a busy one asks at once whether the new work is more urgent

    # --- database steps, run in a thread -----------------------------------------------

    def _claim(self) -> list[Claimed]:
        with session_scope(self.factory) as session:
            return claim(
                worker=self.name,
                limit=self.settings.delivery_batch,
                lease=timedelta(seconds=self.settings.lease_seconds),
                now=datetime.now(UTC),
                session=session,
            )

    def _load_templates(self, claimed: list[Claimed]) -> dict[tuple[int, str], MessageTemplate]:
        """The message template of each (campaign, content) in the batch: rendered once,
        every missing content of a campaign loaded in one go (no query per message)."""
        wanted = {(c.campaign_id, c.content_key) for c in claimed}
        missing: dict[int, set[str]] = {}
        for campaign_id, key in wanted - self._templates.keys():
            missing.setdefault(campaign_id, set()).add(key)
        if missing:
            with session_scope(self.factory) as session:
                for campaign_id, keys in missing.items():
                    campaign = session.get_one(Campaign, campaign_id)
                    rendered = render_contents(
                        campaign, keys, settings=self.settings, session=session
                    )
                    self.renders += len(rendered)
                    for key, email in rendered.items():
                        self._templates[(campaign_id, key)] = build_template(
                            email,
                            mail_from=self.settings.mail_from,
                            list_id=self.settings.list_id_header,
                            bulk=campaign.kind != "transactional",
                        )
        found = {pair: self._templates[pair] for pair in wanted if pair in self._templates}
        for pair in found:
            self._templates.move_to_end(pair)
        while len(self._templates) > max(TEMPLATE_CACHE, len(found)):
            self._templates.popitem(last=False)
        return found

    def _settle(
        self,
        results: list[Settled],
        unsent: list[int],
        still_held: list[int],
        *,
        urgent_above: int | None = None,
    ) -> tuple[dict[str, int], bool]:
        """Record replies, give back what was not sent, and extend the lease on the rest;
        with ``urgent_above``, also say whether work of a higher priority is due."""
        with session_scope(self.factory) as session:
            now = datetime.now(UTC)
            counts = settle(
                results,
                worker=self.name,
                now=now,
                hard_bounce_limit=self.settings.hard_bounce_limit,
                session=session,
            )
            counts["released"] = release(unsent, worker=self.name, session=session)
            renew_lease(
                still_held,
                worker=self.name,
                until=now + timedelta(seconds=self.settings.lease_seconds),
                session=session,
            )
            finish_campaigns({s.claimed.campaign_id for s in results}, now=now, session=session)
            urgent = urgent_above is not None and higher_priority_due(
                urgent_above, now=now, session=session
            )
        return counts, urgent

    # --- building and sending ------------------------------------------------------------

    def message_for(self, claimed: Claimed, template: MessageTemplate) -> tuple[str, bytes]:
        message_id = message_id_for(
            self.settings.signing_key,
            self.settings.mail_domain,
            claimed.id,
            claimed.campaign_id,
            claimed.subscriber_id,
        )
        values = {"address": claimed.email, "message_id": message_id, "date": self._now_date()}
        for slot_name in set(template.slots) - values.keys():
            path, purpose = LINK_SLOTS[slot_name]
            token = make_token(self.settings, purpose, claimed.link_secret)
            values[slot_name] = link(self.settings, path, token)
        message = template.fill(values)
        if self._signer is not None:
            message = self._signer.sign(message)
        return f"<{message_id}>", message

    def _now_date(self) -> str:
        """The Date header for a message leaving now (formatted once a second)."""
        now = self.clock()
        second = int(now.timestamp())
        if self._date[0] != second:
            self._date = (second, date_header(now))
        return self._date[1]

    async def _send_batch(
        self, claimed: list[Claimed], templates: dict[tuple[int, str], MessageTemplate]
    ) -> tuple[dict[str, int], list[Settled]]:
        """Send a claimed batch over the sender's lanes. Every SETTLE_EVERY seconds or
        SETTLE_AFTER replies: record the replies, renew the lease on rows still waiting,
        and ask whether more urgent work is due; if it is, stop taking rows from this
        batch and give the rest back (they are claimed again later, never lost)."""
        pending = iter(claimed)
        started: set[int] = set()
        replies: list[Settled] = []
        everything: list[Settled] = []
        totals = {"sent": 0, "retry": 0, "failed": 0, "released": 0}
        least_urgent = min(c.priority for c in claimed)
        yielding = False
        # Renewing rewrites every waiting row: do it when a third of the lease is gone,
        # not at every 100 ms flush.
        renew_every = self.settings.lease_seconds / 3
        renewed = time.monotonic()

        async def lane() -> None:
            for delivery in pending:
                if self._stopping.is_set() or yielding:
                    return
                started.add(delivery.id)
                template = templates[(delivery.campaign_id, delivery.content_key)]
                message_id, message = self.message_for(delivery, template)
                result = await self.sender.send(self._envelope_from, delivery.email, message)
                replies.append(Settled(delivery, result, message_id))
                if len(replies) >= SETTLE_AFTER:
                    self._nudge.set()

        async def flush(unsent: list[int], *, ask: bool) -> bool:
            nonlocal renewed
            chunk = replies[:]
            del replies[: len(chunk)]
            everything.extend(chunk)
            held: list[int] = []
            if time.monotonic() - renewed >= renew_every:
                renewed = time.monotonic()
                settled = {s.claimed.id for s in everything}
                held = [c.id for c in claimed if c.id not in settled and c.id not in unsent]
            counts, urgent = await asyncio.to_thread(
                self._settle, chunk, unsent, held, urgent_above=least_urgent if ask else None
            )
            for key in totals:
                totals[key] += counts.get(key, 0)
            return urgent

        lanes = asyncio.gather(*(lane() for _ in range(max(1, self.sender.concurrency))))
        try:
            while not lanes.done():
                self._nudge.clear()
                nudged = asyncio.ensure_future(self._nudge.wait())
                waiting: list[asyncio.Future[Any]] = [lanes, nudged]
                await asyncio.wait(waiting, timeout=SETTLE_EVERY, return_when="FIRST_COMPLETED")
                nudged.cancel()
                if not lanes.done() and await flush([], ask=not yielding):
                    yielding = True
                    log.info(
                        "worker %s: more urgent mail is due; setting this batch aside", self.name
                    )
            await lanes
        finally:
            # Whatever happened, record what was sent and give back what never started;
            # a message cut off mid-send keeps its lease and is retried when it runs out.
            never_started = [c.id for c in claimed if c.id not in started]
            await asyncio.shield(flush(never_started, ask=False))
        return totals, everything

    async def handle_one(self) -> bool:
        """Claim, send and settle one batch; True if a batch was found (more may wait)."""
        if self._stopping.is_set():
            return False
        claimed = await asyncio.to_thread(self._claim)
        if not claimed:
            return False
        try:
            templates = await asyncio.to_thread(self._load_templates, claimed)
        except Exception:
            log.exception("cannot build messages; releasing %d deliveries", len(claimed))
            await asyncio.to_thread(self._settle, [], [c.id for c in claimed], [])
            raise
        orphans = [c for c in claimed if (c.campaign_id, c.content_key) not in templates]
        if orphans:
            claimed = [c for c in claimed if (c.campaign_id, c.content_key) in templates]
            await asyncio.to_thread(self._fail_orphans, orphans)
        if not claimed:
            return True
        counts, results = await self._send_batch(claimed, templates)
        self.progress.add(counts)
        self.progress.released += counts["released"]
        log.info(
            "worker %s: campaigns %s, deliveries %d-%d: %d sent, %d retry, %d failed, %d released",
            self.name,
            ",".join(str(c) for c in sorted({c.campaign_id for c in claimed})),
            min(c.id for c in claimed),
            max(c.id for c in claimed),
            counts["sent"],
            counts["retry"],
            counts["failed"],
            counts["released"],
        )
        for settled in results:
            if settled.result.verdict != "sent":
                log.warning(
                    "delivery %d of campaign %d: %s %d %s",
                    settled.claimed.id,
                    settled.claimed.campaign_id,
                    settled.result.verdict,
                    settled.result.code,
                    settled.result.reply[:200],
                )
        if self.on_progress is not None:
            self.on_progress(self.progress)
        return True

    def _fail_orphans(self, orphans: list[Claimed]) -> None:
        """Rows whose content the campaign does not have can never be built: fail them
        (with the reason on the row) rather than claim them again and again."""
        log.error("%d deliveries name a content their campaign lacks; failing them", len(orphans))
        failed = SendResult("failed", 0, "no such content in this campaign (not sent)")
        self._settle([Settled(c, failed, "") for c in orphans], [], [])
        self.progress.failed += len(orphans)

    async def run(self, *, once: bool = False, idle: float = 0.5) -> Progress:
        """Drain the queue; with ``once``, stop when nothing is due now."""
        self._loop = asyncio.get_running_loop()
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    busy = await self.handle_one()
                    failures = 0
                except Exception:
                    # A database hiccup or a bad campaign must not end the worker for good;
                    # what it held was settled or released, or its lease will run out.
                    failures += 1
                    log.exception("worker %s: batch failed (%d in a row)", self.name, failures)
                    self.healthy = failures < 3
                    if once:
                        raise
                    await self._pause(min(2.0**failures, 60.0))
                    continue
                self.healthy = True
                if busy:
                    continue
                if once:
                    break
                await self._pause(idle)
        finally:
            await self.sender.aclose()
        return self.progress

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
