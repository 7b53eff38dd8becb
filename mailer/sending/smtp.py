"""SMTP sender: a pool of reused aiosmtplib connections under a shared rate limit.

Where to connect and how (R2P_SMTP_URL, TLS rules) is ``mailer.smtp_url``. A connection
that drops is replaced on next use; a reply is classified by its code (2xx
sent, 4xx retry, 5xx failed) and a lost connection counts as a retry, never as sent.
Failures without a reply carry their class (connection, timeout, tls) for the worker's
counters and circuit breaker. A message with 8-bit bytes for a server that does not
advertise 8BITMIME is made 7-bit safe first, and signed again (``mailer.email.transfer``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time

import aiosmtplib
from aiosmtplib.protocol import SMTPProtocol
from aiosmtplib.typing import SMTPStatus

from mailer.config import Settings
from mailer.email.dkim import DkimSigner
from mailer.email.transfer import seven_bit
from mailer.sending.base import ErrorClass, SendResult
from mailer.smtp_url import SMTPTarget, parse_smtp_url

__all__ = ["RateLimiter", "SMTPPool", "SMTPTarget", "data_payload", "parse_smtp_url"]

log = logging.getLogger(__name__)


class RateLimiter:
    """At most ``rate`` acquisitions a second across every connection (0 = no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            self._next = max(self._next, now)
            wait = self._next - now
            self._next += self.interval
        if wait > 0:
            await asyncio.sleep(wait)


def data_payload(message: bytes) -> bytes | None:
    """The bytes after DATA for a message whose lines all end in CRLF: dot-stuffed
    (RFC 5321 4.5.2) and terminated. None for anything else, which aiosmtplib then
    normalises itself. Two byte counts and a replace instead of aiosmtplib's two regular
    expressions: ~10 µs a message instead of ~125 µs, a sixth of the time per message."""
    crlf = message.count(b"\r\n")
    if message.count(b"\n") != crlf or message.count(b"\r") != crlf:
        return None
    payload = message.replace(b"\r\n.", b"\r\n..")
    if payload.startswith(b"."):
        payload = b"." + payload
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    return payload + b".\r\n"


async def _send_data(client: aiosmtplib.SMTP, protocol: SMTPProtocol, payload: bytes) -> str:
    """DATA with a payload from ``data_payload``, through aiosmtplib's public protocol
    calls (one ``read_response`` per write). The pool gives a connection to one sender at
    a time, so nothing else writes between them."""
    try:
        start = await client.execute_command(b"DATA")
        if start.code != SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        protocol.write(payload)
        response = await protocol.read_response(timeout=client.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if response.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response.message


def failure_kind(exc: BaseException) -> ErrorClass:
    """The class of a failure that has no SMTP reply."""
    if isinstance(exc, (aiosmtplib.SMTPTimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, ssl.SSLError) or "tls" in str(exc).lower():
        return "tls"
    if isinstance(exc, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError)):
        return "connection"
    return "other"


class SMTPPool:
    def __init__(
        self,
        target: SMTPTarget,
        *,
        connections: int = 4,
        rate: float = 0.0,
        signer: DkimSigner | None = None,
    ) -> None:
        self.target = target
        self.signer = signer  # signs again what is re-encoded for a server without 8BITMIME
        self.concurrency = connections
        self._limiter = RateLimiter(rate)
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] | None = None

    @property
    def relay(self) -> str:
        """Where mail goes, without credentials (worker_status.relay)."""
        return str(self.target)

    @classmethod
    def from_settings(cls, settings: Settings) -> SMTPPool:
        assert settings.smtp_url is not None
        target = parse_smtp_url(
            settings.smtp_url.get_secret_value(), settings.smtp_timeout.total_seconds()
        )
        return cls(
            target,
            connections=settings.smtp_connections,
            rate=settings.smtp_rate,
            signer=DkimSigner.from_settings(settings),
        )

    def _queue(self) -> asyncio.Queue[aiosmtplib.SMTP | None]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.concurrency):
                self._idle.put_nowait(None)
        return self._idle

    async def _connect(self) -> aiosmtplib.SMTP:
        t = self.target
        client = aiosmtplib.SMTP(
            hostname=t.host,
            port=t.port,
            use_tls=t.use_tls,
            start_tls=t.start_tls,
            timeout=t.timeout,
        )
        await client.connect()
        if t.username and t.password:
            try:
                await client.login(t.username, t.password)
            except BaseException:
                client.close()
                raise
        return client

    @staticmethod
    async def _discard(client: aiosmtplib.SMTP | None) -> None:
        if client is not None and client.is_connected:
            client.close()

    @staticmethod
    async def _transaction(
        client: aiosmtplib.SMTP, envelope_from: str, recipient: str, message: bytes
    ) -> str:
        """MAIL, RCPT, DATA for one prebuilt message; raises on any non-2xx reply.

        Calls aiosmtplib's commands directly rather than ``sendmail``: our bytes are
        already CRLF-normalised, so the SIZE is their length, and ``sendmail`` would
        normalise and parse the addresses a second time for every message.
        """
        options = []
        if client.supports_extension("size"):
            options.append(f"SIZE={len(message)}")
        if client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        await client.mail(envelope_from, options=options)
        await client.rcpt(recipient)
        payload = data_payload(message)
        if payload is None or client.protocol is None:
            return (await client.data(message)).message
        return await _send_data(client, client.protocol, payload)

    @staticmethod
    async def _reset(client: aiosmtplib.SMTP) -> None:
        """Clear a half-built envelope after a refusal so the connection can be reused."""
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        idle = self._queue()
        client = await idle.get()
        try:
            await self._limiter.acquire()
            if client is None or not client.is_connected:
                try:
                    client = await self._connect()
                except aiosmtplib.SMTPResponseException as exc:  # e.g. a 421 greeting
                    client = None
                    return SendResult.from_code(exc.code, f"at connect: {exc.message}")
                except (aiosmtplib.SMTPException, OSError) as exc:
                    client = None
                    return SendResult(
                        "retry",
                        0,
                        f"cannot connect to {self.target}: {exc}",
                        kind=failure_kind(exc),
                    )
            if not message.isascii() and not client.supports_extension("8bitmime"):
                message = await asyncio.to_thread(seven_bit, message, self.signer)
            try:
                reply = await self._transaction(client, envelope_from, recipient, message)
            except aiosmtplib.SMTPServerDisconnected as exc:
                await self._discard(client)
                client = None
                return SendResult("retry", 0, f"connection lost: {exc}", kind="connection")
            except aiosmtplib.SMTPRecipientRefused as exc:
                await self._reset(client)
                return SendResult.from_code(exc.code, exc.message, address_refused=True)
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code == 421 or not client.is_connected:  # the server closes this one
                    await self._discard(client)
                    client = None
                else:
                    await self._reset(client)
                return SendResult.from_code(exc.code, exc.message)
            except (aiosmtplib.SMTPException, OSError) as exc:
                await self._discard(client)
                client = None
                return SendResult(
                    "retry",
                    0,
                    f"connection lost: {exc.__class__.__name__}: {exc}",
                    kind=failure_kind(exc),
                )
            return SendResult("sent", 250, reply)
        except BaseException:
            # Cancelled mid-transaction: the envelope is half built, never reuse it.
            await self._discard(client)
            client = None
            raise
        finally:
            idle.put_nowait(client)

    async def aclose(self) -> None:
        if self._idle is None:
            return
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client is not None and client.is_connected:
                try:
                    await asyncio.wait_for(client.quit(), timeout=5)
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    client.close()
        self._idle = None
