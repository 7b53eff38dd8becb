"""The delivery worker: claim a batch, build each message, send, settle.

``handle_one()`` does one unit and says whether more may be waiting; ``run()`` only loops
and handles stopping. Each (campaign, content key) is rendered and MIME-encoded once; a
reader's message is that template with their address, Message-ID, Date and signed links
joined in, so personalising costs microseconds, not a render.

While a batch is sent, replies are recorded every 100 ms or 100 messages (a crash repeats
at most that much plus what is in flight), and in the same transaction the worker claims
whatever more urgent mail is due (a confirmation or an alert during a digest): those rows
go out next, ahead of the rest of the batch, which the worker keeps (giving a batch back
and claiming it again for every confirmation made each signup cost two more write
transactions of hundreds of rows). ``wake()`` makes it look at once.

A reply stays in memory until it is recorded: a failed write (a lock, a lost database
connection) is tried again with backoff until it succeeds, or until the worker has been
stopping for RECORD_STOP_GRACE seconds, so a 250 is never forgotten and the row resent.

A heartbeat task, every third of the lease, renews the lease on every row the worker holds
(whatever its SMTP conversations are doing) and writes the worker's worker_status row:
relay, circuit breaker, counters and the one-minute send rate.

The relay's circuit breaker (``mailer.sending.breaker``): when it opens the worker stops
taking rows, gives back what it has not sent, and gives back the rows whose failures opened
it as due, without counting the attempt; then one probe message every
R2P_BREAKER_PROBE_EVERY, and sending resumes as soon as a probe gets a real answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.bounces.verp import bounce_address
from mailer.config import Settings
from mailer.content import render_contents
from mailer.db import describe_db_error, run_with_retry, session_scope, write_session
from mailer.email.compose import (
    MessageTemplate,
    build_template,
    date_header,
    feedback_id,
    message_id_for,
)
from mailer.email.dkim import DkimSigner
from mailer.models import Campaign, WorkerStatus
from mailer.notices import campaigns_paused
from mailer.outbox.campaigns import finish_campaigns
from mailer.outbox.ledger import (
    Claimed,
    Settled,
    claim,
    defer,
    higher_priority_due,
    release,
    renew_lease,
    settle,
)
from mailer.outbox.queries import retrying_now
from mailer.sending.base import Sender, SendResult
from mailer.sending.breaker import Breaker, Counters, RateWindow, is_relay_failure
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
# A batch is topped up while it is sent (in the transaction that records replies) once
# fewer than half of a batch's rows wait, so the lanes never stand idle while the database
# is busy with another writer; after STREAM_BATCHES batches' worth the stream ends (and is
# logged), so its bookkeeping stays bounded.
STREAM_BATCHES = 10
RECORD_STOP_GRACE = 30.0  # seconds a stopping worker keeps trying to record replies


@dataclass
class Progress:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    released: int = 0
    retrying_now: int = 0  # rows waiting for a retry now (refreshed by the heartbeat)
    rate: float = 0.0  # messages sent a second over the last minute
    breaker: str = "closed"

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
    _shared: OrderedDict[str, MessageTemplate] = field(default_factory=OrderedDict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _nudge: asyncio.Event = field(default_factory=asyncio.Event)
    _date: tuple[int, str] = (0, "")
    _signer: DkimSigner | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    healthy: bool = True
    counters: Counters = field(default_factory=Counters)
    record_failures: int = 0  # writes of replies that failed and were tried again
    _rate: RateWindow = field(default_factory=RateWindow)
    _beat: asyncio.Event = field(default_factory=asyncio.Event)
    _held: set[int] = field(default_factory=set)  # rows claimed and not yet recorded
    _give_up: threading.Event = field(default_factory=threading.Event)
    _paused: list[int] = field(default_factory=list)  # paused on refusals, admins not told
    _notices: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._signer = DkimSigner.from_settings(self.settings)
        self.breaker = Breaker(
            self.settings.breaker_failures, self.settings.breaker_probe_every.total_seconds()
        )
        self.started_at = datetime.now(UTC)
        self.relay = str(getattr(self.sender, "relay", "")) or type(self.sender).__name__

    def stop(self) -> None:
        """Stop claiming; the batch in flight is finished or released. Replies not yet
        recorded are tried for RECORD_STOP_GRACE seconds more."""
        self._stopping.set()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.call_later, RECORD_STOP_GRACE, self._give_up.set)
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
        # An idle worker claims at once; a busy one asks at its next recording of replies
        # (every SETTLE_EVERY seconds) whether the new work is more urgent: a stream of
        # signups must not turn into a write transaction each.
        self._wake.set()

    # --- database steps, run in a thread -----------------------------------------------

    def _claim(self, limit: int) -> list[Claimed]:
        with write_session(self.factory) as session:
            return claim(
                worker=self.name,
                limit=limit,
                lease=timedelta(seconds=self.settings.lease_seconds),
                now=datetime.now(UTC),
                session=session,
            )

    def _load_templates(self, claimed: list[Claimed]) -> dict[tuple[int, str], MessageTemplate]:
        """The message template of each (campaign, content) in the batch: rendered once,
        every missing content of a campaign loaded in one go (no query per message).
        One-reader mails with the same template, subject and context (the confirmations
        of readers who chose the same things) share one rendering."""
        wanted = {(c.campaign_id, c.content_key) for c in claimed}
        missing: dict[int, set[str]] = {}
        for campaign_id, key in wanted - self._templates.keys():
            missing.setdefault(campaign_id, set()).add(key)
        if missing:
            with session_scope(self.factory) as session:
                campaigns = session.scalars(select(Campaign).where(Campaign.id.in_(missing)))
                for campaign in campaigns:
                    keys = missing[campaign.id]
                    same = _same_mail(campaign)
                    if same is not None and same in self._shared:
                        self._shared.move_to_end(same)
                        for key in keys:
                            self._templates[(campaign.id, key)] = self._shared[same]
                        continue
                    rendered = render_contents(
                        campaign, keys, settings=self.settings, session=session
                    )
                    self.renders += len(rendered)
                    bulk = campaign.kind != "transactional"
                    for key, email in rendered.items():
                        template = build_template(
                            email,
                            mail_from=(
                                self.settings.mail_from
                                if bulk
                                else self.settings.transactional_from or self.settings.mail_from
                            ),
                            list_id=self.settings.list_id_header,
                            bulk=bulk,
                            reply_to=self.settings.reply_to,
                            extra_headers=(
                                {"Feedback-ID": feedback_id(campaign.id, campaign.kind)}
                                if bulk
                                else None
                            ),
                        )
                        self._templates[(campaign.id, key)] = template
                        if same is not None:
                            self._shared[same] = template
        found = {pair: self._templates[pair] for pair in wanted if pair in self._templates}
        for pair in found:
            self._templates.move_to_end(pair)
        while len(self._templates) > max(TEMPLATE_CACHE, len(found)):
            self._templates.popitem(last=False)
        while len(self._shared) > TEMPLATE_CACHE:
            self._shared.popitem(last=False)
        return found

    def _settle(
        self,
        results: list[Settled],
        unsent: list[int],
        deferred: list[int] | None = None,
        probed: list[int] | None = None,
        *,
        urgent_above: int | None = None,
        urgent_limit: int = 0,
        refill: int = 0,
    ) -> tuple[dict[str, int], list[Claimed]]:
        """Record replies, give back what was not sent and what the breaker held back;
        campaigns that paused themselves on policy refusals are kept for ``_tell_admins``;
        in the same transaction (one write, not two), claim more: with ``refill``, up to
        that many due rows (highest priority first: the batch is topped up); else with
        ``urgent_above``, up to ``urgent_limit`` due rows of a higher priority. A
        transient database failure is tried again, with backoff, until it succeeds or the
        worker has been stopping for RECORD_STOP_GRACE seconds: the replies are in memory
        only until this returns."""
        held_back, probes = deferred or [], probed or []

        def work(session: Session) -> tuple[dict[str, int], list[Claimed], list[int]]:
            now = datetime.now(UTC)
            paused: list[int] = []
            counts = settle(
                results,
                worker=self.name,
                now=now,
                hard_bounce_limit=self.settings.hard_bounce_limit,
                policy_pause_after=self.settings.policy_pause_after,
                clear_bounces=not self.settings.bounce_domain,
                paused=paused,
                session=session,
            )
            counts["released"] = release(unsent, worker=self.name, session=session)
            reason = self.breaker.reason or "relay failing"
            counts["deferred"] = defer(held_back, reason=reason, worker=self.name, session=session)
            counts["deferred"] += defer(
                probes,
                reason=reason,
                worker=self.name,
                session=session,
                until=now + timedelta(seconds=self.breaker.probe_every),
            )
            finish_campaigns({s.claimed.campaign_id for s in results}, now=now, session=session)
            # Topping up takes whatever is due, most urgent first; otherwise only what is
            # more urgent than the batch, and only when there is some.
            limit, above = (refill, None) if refill > 0 else (urgent_limit, urgent_above)
            urgent: list[Claimed] = []
            if limit > 0 and (
                refill > 0
                or (above is not None and higher_priority_due(above, now=now, session=session))
            ):
                urgent = claim(
                    worker=self.name,
                    limit=limit,
                    lease=timedelta(seconds=self.settings.lease_seconds),
                    now=now,
                    session=session,
                    above=above,
                )
            return counts, urgent, paused

        counts, urgent, paused = run_with_retry(
            self.factory,
            work,
            attempts=2**62,
            deadline=float("inf"),
            stop=self._give_up,
            on_retry=self._record_retry,
        )
        self._held.difference_update(s.claimed.id for s in results)
        self._held.difference_update(unsent)
        self._held.difference_update(held_back)
        self._held.difference_update(probes)
        self._held.update(c.id for c in urgent)
        self._paused.extend(paused)
        return counts, urgent

    def _record_retry(self, exc: BaseException, attempt: int, delay: float) -> None:
        self.record_failures += 1
        log.warning(
            "worker %s: cannot record replies yet (%s); attempt %d failed, trying again in "
            "%.2f s (the replies are kept)",
            self.name,
            describe_db_error(exc),
            attempt,
            delay,
        )

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
        self,
        claimed: list[Claimed],
        templates: dict[tuple[int, str], MessageTemplate],
        *,
        refill: bool = False,
    ) -> tuple[dict[str, int], list[Settled]]:
        """Send a claimed batch over the sender's lanes. Every SETTLE_EVERY seconds or
        SETTLE_AFTER replies: record the replies and, in the same transaction, claim more.
        Rows of a higher priority than the batch's lowest are sent next, ahead of the rest
        of the batch, which is kept (its leases renewed by the heartbeat). With ``refill``,
        once fewer than half a batch of rows wait, the batch is topped up with whatever is
        due (up to STREAM_BATCHES batches in all), so sending never waits for a claim.
        When the relay's breaker opens, stop taking rows, and give back the rows whose
        failures opened it as due, uncounted; whatever never started is given back."""
        held = list(claimed)  # the batch and the urgent rows claimed while it is sent
        batch = deque(claimed)  # in claim order; topped up at its tail (``refill``)
        urgent: list[Claimed] = []  # claimed while the batch is sent: these go first
        started: set[int] = set()
        replies: list[Settled] = []
        suspects: list[Settled] = []  # relay failures in a row: the breaker may yet open
        deferred: list[int] = []  # held back by the open breaker
        probed: list[int] = []  # failed probes: held back a little longer
        everything: list[Settled] = []
        totals = {"sent": 0, "retry": 0, "failed": 0, "released": 0, "deferred": 0}
        least_urgent = min(c.priority for c in claimed)
        probing = self.breaker.state != "closed"
        size = self.settings.delivery_batch
        outstanding = len(claimed)  # rows held and not yet recorded: never more than a batch

        def hold_back_suspects() -> None:
            deferred.extend(s.claimed.id for s in suspects)
            suspects.clear()

        halted = False  # set when the batch ends early: the lanes take no more rows

        def next_delivery() -> Claimed | None:
            if halted or self._stopping.is_set() or self.breaker.state == "open":
                return None
            if refill and not probing and len(urgent) + len(batch) == size // 2:
                self._nudge.set()  # half a batch left: record replies and top up now
            if urgent:
                return urgent.pop(0)
            return batch.popleft() if batch else None

        async def lane() -> None:
            while (delivery := next_delivery()) is not None:
                started.add(delivery.id)
                probe = self.breaker.state == "half-open"
                try:
                    template = templates[(delivery.campaign_id, delivery.content_key)]
                    message_id, message = self.message_for(delivery, template)
                except Exception as exc:  # this message's own problem: it fails alone
                    log.exception("worker %s: cannot build delivery %d", self.name, delivery.id)
                    replies.append(
                        Settled(delivery, SendResult("failed", 0, f"cannot build: {exc}"[:300]), "")
                    )
                    continue
                envelope_from = bounce_address(
                    self.settings, delivery.id, delivery.campaign_id, delivery.subscriber_id
                )
                try:
                    result = await self.sender.send(envelope_from, delivery.email, message)
                except Exception as exc:  # a sender bug must not end the lane mid-batch
                    log.exception("worker %s: sending delivery %d failed", self.name, delivery.id)
                    result = SendResult("retry", 0, f"send error: {type(exc).__name__}")
                self._count(result)
                changed = self.breaker.record(result)
                settled = Settled(delivery, result, message_id)
                if probe and is_relay_failure(result):
                    # Not this row's backoff, but not the next probe either: should this
                    # one reader be the trouble, the next probe tests the relay with another.
                    probed.append(delivery.id)
                elif is_relay_failure(result):
                    suspects.append(settled)
                    if self.breaker.state != "closed":
                        hold_back_suspects()
                else:  # the relay answered: earlier failures were the messages' own
                    replies.extend(suspects)
                    suspects.clear()
                    replies.append(settled)
                if changed:
                    self._breaker_changed()
                if len(replies) >= SETTLE_AFTER:
                    self._nudge.set()

        async def flush(unsent: list[int], *, ask: bool) -> None:
            nonlocal least_urgent, outstanding
            chunk = replies[:]
            gone = deferred[:]
            tried = probed[:]
            waiting = len(urgent) + len(batch)
            settling = len(chunk) + len(unsent) + len(gone) + len(tried)
            room = size - (outstanding - settling)
            # No rows are taken while the breaker is not closed (now, not when the batch
            # began): they would not be sent, and the rows it holds back, due again in this
            # very transaction, would be claimed straight back and left `sending`.
            claiming = ask and not probing and self.breaker.state == "closed"
            top_up = (
                claiming
                and refill
                and waiting <= size // 2
                and len(held) < size * STREAM_BATCHES
                and room > 0
            )
            counts, more = await asyncio.to_thread(
                self._settle,
                chunk,
                unsent,
                gone,
                tried,
                urgent_above=least_urgent if claiming else None,
                urgent_limit=size - len(urgent),
                refill=room if top_up else 0,
            )
            outstanding += len(more) - settling
            self._tell_admins()
            # Only now, recorded, do the replies leave memory.
            del replies[: len(chunk)]
            del deferred[: len(gone)]
            del probed[: len(tried)]
            everything.extend(chunk)
            for key in totals:
                totals[key] += counts.get(key, 0)
            self.progress.add(counts)
            self.progress.released += counts.get("released", 0)
            self._report()
            if more:
                held.extend(more)
                # A row given back earlier in this batch (released, deferred) and claimed
                # again is a new claim: until a lane takes it, it has not been started, so
                # it is given back if the batch ends first.
                started.difference_update(c.id for c in more)
                try:
                    ready, found = await asyncio.to_thread(self._prepare, more)
                except Exception:
                    log.exception("cannot build messages; releasing %d deliveries", len(more))
                    await asyncio.to_thread(self._settle, [], [c.id for c in more])
                    return
                templates.update(found)
                ahead = [c for c in ready if c.priority > least_urgent]
                urgent.extend(ahead)
                urgent.sort(key=lambda c: -c.priority)  # stable: claim order within one
                behind = [c for c in ready if c.priority <= least_urgent]
                batch.extend(behind)
                if behind:
                    least_urgent = min(c.priority for c in behind)
                log.debug(
                    "worker %s: %d more urgent messages go next, %d more at the end",
                    self.name,
                    len(ahead),
                    len(behind),
                )

        lanes: asyncio.Future[list[None]] | None = None
        try:
            while True:
                lanes = asyncio.gather(*(lane() for _ in range(max(1, self.sender.concurrency))))
                while not lanes.done():
                    self._nudge.clear()
                    nudged = asyncio.ensure_future(self._nudge.wait())
                    waiting: list[asyncio.Future[Any]] = [lanes, nudged]
                    await asyncio.wait(waiting, timeout=SETTLE_EVERY, return_when="FIRST_COMPLETED")
                    nudged.cancel()
                    if not lanes.done():
                        await flush([], ask=True)
                await lanes
                # Urgent rows claimed while the last lanes were finishing: send them too.
                if not (urgent or batch) or self._stopping.is_set() or self.breaker.state == "open":
                    break
        finally:
            # Whatever happened, first let the lanes finish the messages they are sending
            # and take no more (a lane still running after the rows below are given back
            # would send them twice); then record what was sent and give back what never
            # started. A message cut off mid-send is left to its lease.
            halted = True
            if lanes is not None and not lanes.done():
                await asyncio.shield(asyncio.gather(lanes, return_exceptions=True))
            if self.breaker.state == "closed":
                replies.extend(suspects)
                suspects.clear()
            else:
                hold_back_suspects()
            never_started = [c.id for c in held if c.id not in started]
            try:
                await asyncio.shield(flush(never_started, ask=False))
            finally:
                self._held.difference_update(c.id for c in held)
        return totals, everything

    def _tell_admins(self) -> None:
        """Email the admins about campaigns that paused themselves (in the background:
        the lanes keep sending the rest)."""
        if not self._paused:
            return
        paused, self._paused = self._paused, []
        task = asyncio.ensure_future(campaigns_paused(self.settings, self.factory, paused))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    def _count(self, result: SendResult) -> None:
        self.counters.add(result)
        if result.verdict == "sent":
            self._rate.add()

    def _breaker_changed(self) -> None:
        if self.breaker.state == "closed":
            log.warning("worker %s: relay %s answers again; sending resumes", self.name, self.relay)
        else:
            log.warning(
                "worker %s: relay %s failing, circuit breaker open (%s); one probe every %g s",
                self.name,
                self.relay,
                self.breaker.reason,
                self.breaker.probe_every,
            )
        self._beat.set()  # worker_status shows the change now, not at the next heartbeat
        self._nudge.set()
        self._wake.set()

    async def handle_one(self) -> bool:
        """Claim, send and settle one batch; True if a batch was found (more may wait).
        While the relay's breaker is open: one probe message when its time has come."""
        if self._stopping.is_set():
            return False
        probe = self.breaker.state != "closed"
        if probe and not self.breaker.probe_due():
            return False
        try:
            if probe:
                self.breaker.probing()
            found = await self._handle(1 if probe else self.settings.delivery_batch)
        finally:
            if self.breaker.state == "half-open":  # nothing to probe with, or no answer
                self.breaker.no_probe()
        return found and self.breaker.state == "closed"

    async def _handle(self, limit: int) -> bool:
        claimed = await asyncio.to_thread(self._claim, limit)
        if not claimed:
            return False
        self._held.update(c.id for c in claimed)
        try:
            claimed, templates = await asyncio.to_thread(self._prepare, claimed)
        except Exception:
            log.exception("cannot build messages; releasing %d deliveries", len(claimed))
            await asyncio.to_thread(self._settle, [], [c.id for c in claimed])
            raise
        if not claimed:
            return True
        counts, results = await self._send_batch(claimed, templates, refill=limit > 1)
        log.info(
            "worker %s: campaigns %s, deliveries %d-%d: %d sent, %d retry, %d failed, "
            "%d released, %d deferred",
            self.name,
            ",".join(str(c) for c in sorted({c.campaign_id for c in claimed})),
            min(c.id for c in claimed),
            max(c.id for c in claimed),
            counts["sent"],
            counts["retry"],
            counts["failed"],
            counts["released"],
            counts["deferred"],
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
        return True

    def _report(self) -> None:
        if self.on_progress is not None:
            self.progress.rate = self._rate.rate()
            self.progress.breaker = self.breaker.state
            self.on_progress(self.progress)

    def _prepare(
        self, claimed: list[Claimed]
    ) -> tuple[list[Claimed], dict[tuple[int, str], MessageTemplate]]:
        """The rows that can be built and their templates; rows naming a content their
        campaign lacks are failed here. Raises if the templates cannot be built."""
        templates = self._load_templates(claimed)
        orphans = [c for c in claimed if (c.campaign_id, c.content_key) not in templates]
        if orphans:
            claimed = [c for c in claimed if (c.campaign_id, c.content_key) in templates]
            self._fail_orphans(orphans)
        return claimed, templates

    def _fail_orphans(self, orphans: list[Claimed]) -> None:
        """Rows whose content the campaign does not have can never be built: fail them
        (with the reason on the row) rather than claim them again and again."""
        log.error("%d deliveries name a content their campaign lacks; failing them", len(orphans))
        failed = SendResult("failed", 0, "no such content in this campaign (not sent)")
        self._settle([Settled(c, failed, "") for c in orphans], [])
        self.progress.failed += len(orphans)

    async def run(self, *, once: bool = False, idle: float = 0.5) -> Progress:
        """Drain the queue; with ``once``, stop when nothing is due now."""
        self._loop = asyncio.get_running_loop()
        # asyncio events belong to the loop that first waits on them: fresh ones per run.
        self._wake, self._nudge, self._beat = (
            _fresh(self._wake),
            _fresh(self._nudge),
            asyncio.Event(),
        )
        self._give_up.clear()
        heartbeat = asyncio.create_task(self._heartbeat(), name=f"heartbeat {self.name}")
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
                if self.breaker.state != "closed":
                    await self._pause(min(idle, self.breaker.seconds_to_probe()))
                else:
                    await self._pause(idle)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self._tell_admins()
            if self._notices:  # admin notices still being sent
                await asyncio.wait(set(self._notices), timeout=RECORD_STOP_GRACE)
            try:
                retrying = await asyncio.to_thread(self._write_status, self._status(stopped=True))
            except Exception as exc:
                log.warning(
                    "worker %s: last status not written (%s)", self.name, describe_db_error(exc)
                )
            else:
                if retrying is not None:
                    self.progress.retrying_now = retrying
                    self._report()
            await self.sender.aclose()
        return self.progress

    # --- heartbeat -------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Every third of the lease (and at once when the breaker changes): renew the
        lease on every row held, write worker_status, refresh the live figures. A task of
        its own, so a slow SMTP conversation or a long batch cannot hold it up."""
        every = self.settings.lease_seconds / 3
        while True:
            self._beat.clear()
            try:
                retrying = await asyncio.to_thread(self._write_status, self._status())
            except Exception as exc:
                log.warning(
                    "worker %s: heartbeat not written (%s)", self.name, describe_db_error(exc)
                )
            else:
                if retrying is not None:
                    self.progress.retrying_now = retrying
            self._report()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beat.wait(), timeout=every)

    def _status(self, *, stopped: bool = False) -> dict[str, Any]:
        """What the heartbeat writes, taken in the event loop (the thread writes it)."""
        return {
            "held": sorted(self._held),
            "relay": self.relay[:200],
            "breaker": self.breaker.state,
            "breaker_since": self.breaker.changed_at,
            "breaker_reason": self.breaker.reason[:500],
            "counters": self.counters.as_json(),
            "rate": self._rate.rate(),
            "stopped": stopped,
        }

    def _write_status(self, status: dict[str, Any]) -> int | None:
        with write_session(self.factory) as session:
            now = datetime.now(UTC)
            renew_lease(
                status["held"],
                worker=self.name,
                until=now + timedelta(seconds=self.settings.lease_seconds),
                session=session,
            )
            row = session.get(WorkerStatus, self.name)
            if row is None:
                row = WorkerStatus(name=self.name, started_at=self.started_at)
                session.add(row)
            row.heartbeat_at = now
            row.stopped_at = now if status["stopped"] else None
            row.relay = status["relay"]
            row.breaker = status["breaker"]
            row.breaker_since = status["breaker_since"]
            row.breaker_reason = status["breaker_reason"]
            row.counters = status["counters"]
            row.rate = status["rate"]
            if self.on_progress is None:
                return None
            return retrying_now(now=now, session=session)

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)


def _same_mail(campaign: Campaign) -> str | None:
    """What makes a one-reader mail's rendering (template, subject, context), as a key
    that campaigns with the same mail share; None for a digest (its contents differ)."""
    if campaign.kind == "digest":
        return None
    return json.dumps(
        [campaign.kind, campaign.template, campaign.subject, campaign.context],
        sort_keys=True,
        default=str,
    )


def _fresh(event: asyncio.Event) -> asyncio.Event:
    """A new event for this loop, set if the old one was."""
    new = asyncio.Event()
    if event.is_set():
        new.set()
    return new
