"""Reading a bounce mailbox (R2P_BOUNCE_MAILBOX_URL) over IMAP or POP3, every
R2P_BOUNCE_MAILBOX_EVERY and with ``r2p-mailer bounces fetch``.

Each message is taken in (``subscribers.reports.take_report``, ``via="mailbox"``) and
committed *before* it is deleted (IMAP: ``\\Deleted`` then EXPUNGE, or ``\\Seen`` with
R2P_BOUNCE_MAILBOX_DONE=seen; POP3: DELE, committed by QUIT). A crash or a dropped
connection in between leaves the message in the mailbox: it is read again next time and
``mail_reports``' dedupe key (the report's id, or a hash of its bytes) counts it once.
Messages over R2P_INBOUND_MAX_BYTES are left in the mailbox and reported. The password
never appears in a message: errors name ``scheme://user@host:port/folder``.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import poplib
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from jobs.runtime import current
from mailer.config import Settings
from mailer.db import run_with_retry
from mailer.errors import ConfigError, MailerError
from mailer.feeds.sanitise import one_line
from mailer.notices import campaigns_paused
from subscribers.reports import Taken, take_report

log = logging.getLogger(__name__)

PORTS = {"imaps": 993, "imap": 143, "pop3s": 995, "pop3": 110}
UID_FETCHED = re.compile(rb"UID (\d+)")
SIZE_FETCHED = re.compile(rb"RFC822\.SIZE (\d+)")
ENVELOPE_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "to")
MAX_ENVELOPE = 20  # addresses tried per message, as the SMTP receiver's recipients


class MailboxError(MailerError):
    """The mailbox could not be read (connection, login, protocol); never names the
    password."""


@dataclass(frozen=True)
class Mailbox:
    """Where the bounce mailbox is, parsed from R2P_BOUNCE_MAILBOX_URL."""

    scheme: str
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"

    @property
    def imap(self) -> bool:
        return self.scheme.startswith("imap")

    @property
    def tls(self) -> bool:
        """TLS from the first byte (imaps, pop3s)."""
        return self.scheme.endswith("s")

    def __str__(self) -> str:  # what messages and logs show: never the password
        folder = f"/{self.folder}" if self.imap else ""
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}{folder}"

    def __repr__(self) -> str:
        return f"Mailbox({self})"


def mailbox_of(settings: Settings) -> Mailbox:
    """The configured mailbox; ConfigError (naming no password) when the URL is wrong."""
    if settings.bounce_mailbox_url is None:
        raise ConfigError("R2P_BOUNCE_MAILBOX_URL is not set: there is no bounce mailbox")
    problem = (
        "R2P_BOUNCE_MAILBOX_URL must look like imaps://user:password@host:993/INBOX "
        "or pop3s://user:password@host:995"
    )
    try:
        url = urlsplit(settings.bounce_mailbox_url.get_secret_value().strip())
        port = url.port
    except ValueError:
        raise ConfigError(problem) from None
    scheme = url.scheme.lower()
    if scheme not in PORTS or not url.hostname or not url.username:
        raise ConfigError(problem)
    password = unquote(url.password or "")
    if settings.bounce_mailbox_password_file is not None:
        try:
            password = settings.bounce_mailbox_password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read R2P_BOUNCE_MAILBOX_PASSWORD_FILE: {exc.strerror}"
            ) from None
        password = password.rstrip("\r\n")
    if not password:
        raise ConfigError(
            "the bounce mailbox has no password: put it in R2P_BOUNCE_MAILBOX_URL "
            "(percent-encoded) or R2P_BOUNCE_MAILBOX_PASSWORD_FILE"
        )
    folder = unquote(url.path.lstrip("/")) or "INBOX"
    if scheme.startswith("pop3") and url.path.strip("/"):
        raise ConfigError("a POP3 mailbox has no folders: leave the path out of the URL")
    return Mailbox(
        scheme=scheme,
        host=url.hostname,
        port=port or PORTS[scheme],
        user=unquote(url.username),
        password=password,
        folder=folder,
    )


@dataclass
class Fetched:
    """What one pass over the mailbox did."""

    mailbox: str
    read: int = 0
    recorded: int = 0  # messages with at least one new report
    duplicates: int = 0  # messages read before (a crash between recording and deleting)
    removed: int = 0  # deleted (or marked seen)
    too_large: int = 0  # left in the mailbox
    paused: list[int] = field(default_factory=list)
    done: str = "removed"  # or "marked seen"

    def summary(self) -> str:
        done = self.done
        return (
            f"{self.mailbox}: {self.read} message(s) read, {self.recorded} recorded, "
            f"{self.duplicates} already recorded, {self.removed} {done}, "
            f"{self.too_large} over the size limit left in the mailbox"
        )


Progress = Callable[[int, int, Taken | None], None]  # (number, of, taken or None: too large)


def _redact(text: str, mailbox: Mailbox) -> str:
    text = one_line(text)[:300]
    return text.replace(mailbox.password, "***") if mailbox.password else text


def envelope_to(data: bytes) -> list[str]:
    """The addresses the mailbox's server says the message was delivered to
    (``Delivered-To``, ``X-Original-To``, ``Envelope-To``, then ``To``): where a VERP
    address survives when the report quotes nothing of the original. Only a token that
    verifies names a delivery, so a forged header names none."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(data)
    except (ValueError, TypeError, LookupError):
        return []
    found: list[str] = []
    for name in ENVELOPE_HEADERS:
        for value in headers.get_all(name) or []:
            found += [address for _, address in getaddresses([str(value)]) if address]
    return found[:MAX_ENVELOPE]


def _take(data: bytes, settings: Settings, factory: sessionmaker[Session]) -> Taken:
    return run_with_retry(
        factory,
        lambda session: take_report(
            data,
            via="mailbox",
            envelope_to=envelope_to(data),
            settings=settings,
            now=datetime.now(UTC),
            session=session,
        ),
    )


def _count(fetched: Fetched, taken: Taken) -> None:
    fetched.read += 1
    fetched.paused.extend(taken.paused)
    if any(not r.duplicate for r in taken.recorded):
        fetched.recorded += 1
    else:
        fetched.duplicates += 1


def fetch_mailbox(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    progress: Progress | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> Fetched:
    """Read the bounce mailbox once: take in every message, then remove it."""
    mailbox = mailbox_of(settings)
    fetched = Fetched(str(mailbox))
    context = tls_context or ssl.create_default_context()
    try:
        if mailbox.imap:
            _fetch_imap(mailbox, settings, factory, fetched, progress, context)
        else:
            _fetch_pop3(mailbox, settings, factory, fetched, progress, context)
    except (imaplib.IMAP4.error, poplib.error_proto, OSError, EOFError) as exc:
        reason = _redact(str(exc) or type(exc).__name__, mailbox)
        raise MailboxError(f"cannot read the bounce mailbox {mailbox}: {reason}") from None
    return fetched


def _insecure(mailbox: Mailbox, settings: Settings, starttls: str) -> None:
    if not settings.bounce_mailbox_insecure:
        raise MailboxError(
            f"the bounce mailbox {mailbox} offers no {starttls}: the password would cross "
            f"the network in plain text. Use {mailbox.scheme}s://, or set "
            "R2P_BOUNCE_MAILBOX_INSECURE=true (only for a server on this machine)"
        )


def _fetch_imap(
    mailbox: Mailbox,
    settings: Settings,
    factory: sessionmaker[Session],
    fetched: Fetched,
    progress: Progress | None,
    context: ssl.SSLContext,
) -> None:
    timeout = settings.bounce_mailbox_timeout.total_seconds()
    client: imaplib.IMAP4
    if mailbox.tls:
        client = imaplib.IMAP4_SSL(mailbox.host, mailbox.port, ssl_context=context, timeout=timeout)
    else:
        client = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=timeout)
    try:
        if not mailbox.tls:
            if "STARTTLS" in client.capabilities:
                client.starttls(context)
            else:
                _insecure(mailbox, settings, "STARTTLS")
        try:
            client.login(mailbox.user, mailbox.password)
        except imaplib.IMAP4.error as exc:
            raise MailboxError(
                f"the bounce mailbox {mailbox} refused the login of {mailbox.user}: "
                f"{_redact(str(exc), mailbox)}"
            ) from None
        status, answer = client.select(_quoted(mailbox.folder))
        if status != "OK":
            raise MailboxError(
                f"the bounce mailbox {mailbox} has no folder {mailbox.folder!r}: "
                f"{_redact(repr(answer), mailbox)}"
            )
        seen = settings.bounce_mailbox_done == "seen"
        fetched.done = "marked seen" if seen else "removed"
        status, found = client.uid("SEARCH", "UNSEEN" if seen else "UNDELETED")
        uids = [int(u) for u in (found[0] or b"").split()] if status == "OK" and found else []
        deleted = False
        for number, uid in enumerate(uids, 1):
            size = _imap_size(client, uid)
            if size is None:
                continue  # gone meanwhile (another reader expunged it)
            if size > settings.inbound_max_bytes:
                fetched.too_large += 1
                log.warning(
                    "bounce mailbox: message UID %d is %d bytes, over R2P_INBOUND_MAX_BYTES "
                    "(%d): left in the mailbox",
                    uid,
                    size,
                    settings.inbound_max_bytes,
                )
                if progress is not None:
                    progress(number, len(uids), None)
                continue
            data = _imap_body(client, uid)
            if data is None:
                continue
            taken = _take(data, settings, factory)  # committed before the message goes
            _count(fetched, taken)
            if progress is not None:
                progress(number, len(uids), taken)
            flag = r"(\Seen)" if seen else r"(\Deleted)"
            status, _ = client.uid("STORE", str(uid), "+FLAGS", flag)
            if status != "OK":
                raise MailboxError(f"the bounce mailbox {mailbox} would not flag UID {uid}")
            fetched.removed += 1
            deleted = deleted or not seen
        if deleted:
            client.expunge()
        client.logout()
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


def _quoted(folder: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9._/-]+", folder):
        return folder
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _imap_size(client: imaplib.IMAP4, uid: int) -> int | None:
    status, data = client.uid("FETCH", str(uid), "(RFC822.SIZE)")
    for part in data if status == "OK" else []:
        line = part[0] if isinstance(part, tuple) else part
        if isinstance(line, bytes) and (match := SIZE_FETCHED.search(line)):
            found = UID_FETCHED.search(line)
            if found is None or int(found.group(1)) == uid:
                return int(match.group(1))
    return None


def _imap_body(client: imaplib.IMAP4, uid: int) -> bytes | None:
    # BODY.PEEK[]: reading does not set \Seen, so a crash before recording loses nothing.
    status, data = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
    for part in data if status == "OK" else []:
        if isinstance(part, tuple) and len(part) == 2 and isinstance(part[1], bytes):
            return part[1]
    return None


def _fetch_pop3(
    mailbox: Mailbox,
    settings: Settings,
    factory: sessionmaker[Session],
    fetched: Fetched,
    progress: Progress | None,
    context: ssl.SSLContext,
) -> None:
    timeout = settings.bounce_mailbox_timeout.total_seconds()
    client: poplib.POP3
    if mailbox.tls:
        client = poplib.POP3_SSL(mailbox.host, mailbox.port, timeout=timeout, context=context)
    else:
        client = poplib.POP3(mailbox.host, mailbox.port, timeout=timeout)
    try:
        if not mailbox.tls:
            try:
                capabilities = client.capa()
            except poplib.error_proto:
                capabilities = {}
            if "STLS" in capabilities:
                client.stls(context)
            else:
                _insecure(mailbox, settings, "STLS")
        try:
            client.user(mailbox.user)
            client.pass_(mailbox.password)
        except poplib.error_proto as exc:
            said = exc.args[0] if exc.args else b""
            reason = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
            raise MailboxError(
                f"the bounce mailbox {mailbox} refused the login of {mailbox.user}: "
                f"{_redact(reason, mailbox)}"
            ) from None
        _, listing, _ = client.list()
        sizes = [(int(n), int(s)) for n, s in (line.split()[:2] for line in listing)]
        for position, (number, size) in enumerate(sizes, 1):
            if size > settings.inbound_max_bytes:
                fetched.too_large += 1
                log.warning(
                    "bounce mailbox: message %d is %d bytes, over R2P_INBOUND_MAX_BYTES "
                    "(%d): left in the mailbox",
                    number,
                    size,
                    settings.inbound_max_bytes,
                )
                if progress is not None:
                    progress(position, len(sizes), None)
                continue
            _, lines, _ = client.retr(number)
            data = b"\r\n".join(lines) + b"\r\n"
            taken = _take(data, settings, factory)  # committed before DELE
            _count(fetched, taken)
            if progress is not None:
                progress(position, len(sizes), taken)
            client.dele(number)
            fetched.removed += 1
        client.quit()  # the deletions take effect here (RFC 1939 UPDATE state)
    finally:
        with contextlib.suppress(OSError):
            client.close()


def bounce_mailbox_job() -> None:
    """The scheduled pass (R2P_BOUNCE_MAILBOX_EVERY): a failure is logged, and the next
    pass tries again; messages not yet removed are read again then (counted once)."""
    runtime = current()
    if runtime.settings.bounce_mailbox_url is None:
        return  # unset since a job store kept this job: nothing to read
    try:
        fetched = fetch_mailbox(runtime.settings, runtime.factory)
    except MailerError as exc:
        log.error("bounce mailbox: %s", exc)
        return
    if fetched.read or fetched.too_large:
        log.info("bounce mailbox: %s", fetched.summary())
    if fetched.paused:
        asyncio.run(campaigns_paused(runtime.settings, runtime.factory, fetched.paused))
