"""``r2p-mailer inbound``: a small SMTP or LMTP receiver (aiosmtpd) for the bounce domain,
for a Postfix or Exim transport, or an MX, to hand bounces and complaints to.

Only addresses at R2P_BOUNCE_DOMAIN are accepted (anything else: 550 5.7.1, no
relaying), at most MAX_RECIPIENTS per message and R2P_INBOUND_MAX_BYTES per message (552
beyond). Each message is taken in (``subscribers.reports.take_report``) and committed
before the 250, so a report the database could not store is refused with a 451 and the
sending server tries again: nothing is dropped. LMTP answers once per recipient.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.db import run_with_retry
from mailer.errors import ConfigError
from mailer.notices import campaigns_paused
from subscribers.reports import Taken, take_report

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 20
ACCEPTED = "250 2.0.0 report received"
TRY_LATER = "451 4.3.0 cannot store the report now, try again later"


@dataclass
class InboundHandler:
    """aiosmtpd's handler: checks recipients, takes each message in."""

    settings: Settings
    factory: sessionmaker[Session]
    lmtp: bool = False
    on_taken: Callable[[Taken], None] | None = None  # tests and logs: after each commit

    def __post_init__(self) -> None:
        if not self.settings.bounce_domain:
            raise ConfigError("R2P_BOUNCE_DOMAIN is not set: there is no bounce domain to receive")
        self._notices: set[asyncio.Task[None]] = set()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SMTPSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain != self.settings.bounce_domain:
            return f"550 5.7.1 relaying denied: only {self.settings.bounce_domain} is accepted"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        recipients = [str(r) for r in envelope.rcpt_tos]
        try:
            taken = await asyncio.to_thread(self._take, data, recipients)
        except Exception:
            log.exception("inbound: a report could not be stored; the sender will retry")
            return self._reply(TRY_LATER, len(recipients))
        report = taken.report
        log.info(
            "inbound: %s from %s (%d bytes): %s; delivery %s, reader %s%s",
            report.kind,
            session.peer[0] if isinstance(session.peer, tuple) else session.peer,
            len(data),
            ", ".join(taken.decisions) or "already recorded",
            taken.delivery_id or "-",
            taken.subscriber_id or "-",
            f", {report.reason}" if report.reason else "",
        )
        if taken.paused:
            task = asyncio.ensure_future(
                campaigns_paused(self.settings, self.factory, taken.paused)
            )
            self._notices.add(task)
            task.add_done_callback(self._notices.discard)
        if self.on_taken is not None:
            self.on_taken(taken)
        return self._reply(ACCEPTED, len(recipients))

    def _reply(self, line: str, recipients: int) -> str:
        # LMTP: one reply per recipient (RFC 2033), all alike: the message is one report.
        return "\r\n".join([line] * max(1, recipients)) if self.lmtp else line

    def _take(self, data: bytes, recipients: list[str]) -> Taken:
        return run_with_retry(
            self.factory,
            lambda session: take_report(
                data,
                via="inbound",
                envelope_to=recipients,
                settings=self.settings,
                now=datetime.now(UTC),
                session=session,
            ),
        )


async def serve(
    handler: InboundHandler,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Listen on ``host``:``port`` until ``stop`` is set; ``ready`` gets the port (0 picks
    a free one)."""
    protocol: type[SMTP] = LMTP if handler.lmtp else SMTP
    settings = handler.settings
    options: dict[str, Any] = {
        "data_size_limit": settings.inbound_max_bytes,
        "hostname": settings.bounce_domain,
        "ident": "r2p-mailer inbound",
        "decode_data": False,
        "timeout": 120,
    }
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: protocol(handler, **options), host=host, port=port)
    try:
        bound = server.sockets[0].getsockname()[1]
        log.info(
            "inbound: %s for %s on %s:%d (messages up to %d bytes)",
            "LMTP" if handler.lmtp else "SMTP",
            settings.bounce_domain,
            host,
            bound,
            settings.inbound_max_bytes,
        )
        if ready is not None:
            ready(int(bound))
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
