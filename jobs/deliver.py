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
from mailer.outbox import Claimed, Settled, claim, finish_campaigns, release, settle
from mailer.sending.base import Sender
from mailer.tokens import Purpose, link, make_token

log = logging.getLogger(__name__)

LINK_SLOTS = {
    "unsubscribe_url": ("unsubscribe", Purpose.UNSUBSCRIBE),
    "preferences_url": ("preferences", Purpose.MANAGE),
    "confirm_url": ("confirm", Purpose.CONFIRM),
}
TEMPLATE_CACHE = 256


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

    def __post_init__(self) -> None:
        self._signer = DkimSigner.from_settings(self.settings)
        self._envelope_from = self.settings.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()

    def stop(self) -> None:
        """Stop claiming; the batch in flight is finished or released."""
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Something was just queued (an approved alert): look now, not at the next tick."""
        self._wake.set()

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

    def _settle(self, results: list[Settled], unsent: list[int]) -> dict[str, int]:
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

    async def _send_all(
        self, claimed: list[Claimed], templates: dict[tuple[int, str], MessageTemplate]
    ) -> tuple[list[Settled], list[int]]:
        pending = iter(claimed)
        results: list[Settled] = []
        unsent: list[int] = []

        async def lane() -> None:
            for delivery in pending:
                if self._stopping.is_set():
                    unsent.append(delivery.id)
                    continue
                template = templates[(delivery.campaign_id, delivery.segment)]
                message_id, message = self.message_for(delivery, template)
                result = await self.sender.send(self._envelope_from, delivery.email, message)
                results.append(Settled(delivery, result, message_id))

        await asyncio.gather(*(lane() for _ in range(max(1, self.sender.concurrency))))
        return results, unsent

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
            await asyncio.to_thread(self._settle, [], [c.id for c in claimed])
            raise
        results, unsent = await self._send_all(claimed, templates)
        counts = await asyncio.to_thread(self._settle, results, unsent)
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
        try:
            while not self._stopping.is_set():
                if await self.handle_one():
                    continue
                if once:
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=idle)
        finally:
            await self.sender.aclose()
        return self.progress
