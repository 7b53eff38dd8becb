"""The delivery worker: claim a batch, build each message, send, settle.

``handle_one()`` does one unit and says whether more may be waiting; ``run()`` only loops
and handles stopping. Each (campaign, segment) is rendered and MIME-encoded once; a
reader's message is that template with their address, Message-ID and signed links joined
in, so personalising costs microseconds, not a render.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.content import render_campaign
from mailer.db import session_scope
from mailer.email.compose import MessageTemplate, build_template, new_message_id
from mailer.email.dkim import DkimSigner
from mailer.models import Campaign
from mailer.outbox import (
    Claimed,
    Settled,
    claim,
    finish_campaigns,
    release,
    renew_lease,
    settle,
)
from mailer.sending.base import Sender
from mailer.tokens import Purpose, link, make_token

log = logging.getLogger(__name__)

LINK_SLOTS = {
    "unsubscribe_url": ("unsubscribe", Purpose.UNSUBSCRIBE),
    "preferences_url": ("preferences", Purpose.MANAGE),
    "confirm_url": ("confirm", Purpose.CONFIRM),
}
TEMPLATE_CACHE = 256
SETTLE_EVERY = 1.0  # seconds between recording replies while a batch is sent


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
    _templates: OrderedDict[tuple[int, str], MessageTemplate] = field(default_factory=OrderedDict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
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
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

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
        wanted = {(c.campaign_id, c.segment) for c in claimed}
        missing = [key for key in wanted if key not in self._templates]
        if missing:
            with session_scope(self.factory) as session:
                for campaign_id, segment in missing:
                    campaign = session.get_one(Campaign, campaign_id)
                    rendered = render_campaign(
                        campaign, segment, settings=self.settings, session=session
                    )
                    self._templates[(campaign_id, segment)] = build_template(
                        rendered,
                        mail_from=self.settings.mail_from,
                        list_id=self.settings.list_id_header,
                        bulk=campaign.kind != "transactional",
                    )
        for key in wanted:
            self._templates.move_to_end(key)
        while len(self._templates) > TEMPLATE_CACHE:
            self._templates.popitem(last=False)
        return {key: self._templates[key] for key in wanted}

    def _settle(
        self, results: list[Settled], unsent: list[int], still_held: list[int]
    ) -> dict[str, int]:
        """Record replies, give back what was not sent, and extend the lease on the rest."""
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
        return counts

    # --- building and sending ------------------------------------------------------------

    def message_for(self, claimed: Claimed, template: MessageTemplate) -> tuple[str, bytes]:
        message_id = new_message_id(self.settings.mail_domain, claimed.id)
        values = {"address": claimed.email, "message_id": message_id}
        for slot_name in set(template.slots) - values.keys():
            path, purpose = LINK_SLOTS[slot_name]
            token = make_token(self.settings, purpose, claimed.subscriber_id, claimed.email)
            values[slot_name] = link(self.settings, path, token)
        message = template.fill(values)
        if self._signer is not None:
            message = self._signer.sign(message)
        return f"<{message_id}>", message

    async def _send_batch(
        self, claimed: list[Claimed], templates: dict[tuple[int, str], MessageTemplate]
    ) -> tuple[dict[str, int], list[Settled]]:
        """Send a claimed batch over the sender's lanes, settling replies every
        SETTLE_EVERY seconds (so a crash repeats at most that much) and renewing the lease
        on rows still waiting (so a slow batch is never taken from us mid-send)."""
        pending = iter(claimed)
        started: set[int] = set()
        replies: list[Settled] = []
        everything: list[Settled] = []
        totals = {"sent": 0, "retry": 0, "failed": 0, "released": 0}

        async def lane() -> None:
            for delivery in pending:
                if self._stopping.is_set():
                    return
                started.add(delivery.id)
                template = templates[(delivery.campaign_id, delivery.segment)]
                message_id, message = self.message_for(delivery, template)
                result = await self.sender.send(self._envelope_from, delivery.email, message)
                replies.append(Settled(delivery, result, message_id))

        async def flush(unsent: list[int]) -> None:
            chunk = replies[:]
            del replies[: len(chunk)]
            everything.extend(chunk)
            settled = {s.claimed.id for s in everything}
            held = [c.id for c in claimed if c.id not in settled and c.id not in unsent]
            counts = await asyncio.to_thread(self._settle, chunk, unsent, held)
            for key in totals:
                totals[key] += counts.get(key, 0)

        lanes = asyncio.gather(*(lane() for _ in range(max(1, self.sender.concurrency))))
        try:
            while not lanes.done():
                await asyncio.wait([lanes], timeout=SETTLE_EVERY)
                if not lanes.done():
                    await flush([])
            await lanes
        finally:
            # Whatever happened, record what was sent and give back what never started;
            # a message cut off mid-send keeps its lease and is retried when it runs out.
            never_started = [c.id for c in claimed if c.id not in started]
            await asyncio.shield(flush(never_started))
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
