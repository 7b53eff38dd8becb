"""Importing readers from a CSV file (columns ``email``, ``language``, ``topics``).

The file is checked as a whole first: it must be UTF-8 (a BOM is fine) or UTF-16 with a
BOM, with an ``email`` column. Each row is then accepted or rejected with a reason, and
the accepted rows are added in the caller's single transaction, so a crash leaves
nothing half-imported. Rows are checked against the list a chunk at a time and the
accepted ones inserted a batch at a time (BATCH): a few statements per thousand rows.
Addresses already on the list are never touched: an import must not undo an unsubscribe.
A ``status`` column (as ``subscribers export`` writes) is honoured: only ``active`` rows
keep their confirmation, ``pending`` rows must confirm, and any other status is rejected.
A cell that `export` quoted against spreadsheet formula injection (a leading ' before
= + - @, tab or CR) is read back without that quote, so an export imports back to the
same addresses (mailer/spreadsheet.py).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.errors import MailerError
from mailer.models import ConsentEvent, Subscriber
from mailer.outbox.status import SubscriberStatus
from mailer.spreadsheet import restore
from subscribers.addresses import InvalidAddressError, normalise_address
from subscribers.choices import (
    ChoiceError,
    Choices,
    Vocabulary,
    clean_language,
    clean_topics,
    vocabulary,
)
from subscribers.consent import ADMIN, ADMIN_CONFIRMED, ADMIN_PENDING, Consent, new_event
from subscribers.mails import queue_confirmation
from subscribers.signup import admin_subscriber

EVERYTHING = {"", "all", "everything", "*"}
_TOPIC_SEPARATORS = re.compile(r"[\s,;|]+")
_EXTRA = "\x00extra"
BATCH = 1000  # readers inserted per statement
LOOKUP_CHUNK = 500  # addresses looked up on the list per query


class ImportFileError(MailerError):
    """The file as a whole cannot be read; nothing was imported."""


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]
    extra: bool


@dataclass(frozen=True)
class Rejected:
    line: int
    email: str
    reason: str


@dataclass
class ImportReport:
    accepted: int = 0
    confirmed: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def decode(data: bytes) -> str:
    """The file's text; raises ImportFileError naming the first bad line."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            data, chosen = data[len(bom) :], encoding
            break
    else:
        chosen = "utf-8"
    try:
        return data.decode(chosen)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1 if chosen == "utf-8" else 0
        where = f"line {line}" if line else "the file"
        raise ImportFileError(
            f"{where} is not {chosen.upper()} (byte 0x{data[exc.start]:02x}); save the file as "
            "'CSV UTF-8' and try again"
        ) from None


def read_rows(data: bytes) -> Iterator[Row]:
    """Rows with lower-cased column names; raises ImportFileError for an unreadable file."""
    text = decode(data)
    if "\x00" in text:
        raise ImportFileError("the file contains NUL bytes: it is not a CSV text file")
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey=_EXTRA)
    try:
        header = reader.fieldnames
        if not header:
            raise ImportFileError("the file is empty")
        reader.fieldnames = [name.strip().lower() for name in header]
        if "email" not in reader.fieldnames:
            raise ImportFileError(
                f"no 'email' column in the header (found: {', '.join(reader.fieldnames)})"
            )
        for raw in reader:
            extra = _EXTRA in raw
            values = {k: restore(v or "").strip() for k, v in raw.items() if k != _EXTRA}
            if not any(values.values()) and not extra:
                continue
            yield Row(line=reader.line_num, values=values, extra=extra)
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num}: {exc}") from None


def _choices(row: Row, known: Vocabulary) -> Choices:
    language = row.values.get("language") or "en"
    topics = row.values.get("topics", "")
    chosen = (
        () if topics.lower() in EVERYTHING else clean_topics(_TOPIC_SEPARATORS.split(topics), known)
    )
    return Choices(language=clean_language(language), topics=chosen)


def _listed(addresses: set[str], *, session: Session) -> dict[str, str]:
    """The status of each of ``addresses`` already on the list, a chunk at a time."""
    found: dict[str, str] = {}
    ordered = sorted(addresses)
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[start : start + LOOKUP_CHUNK]
        rows = session.execute(
            select(Subscriber.email, Subscriber.status).where(Subscriber.email.in_(chunk))
        )
        found.update((email, status) for email, status in rows)
    return found


@dataclass(frozen=True)
class _Accepted:
    address: str
    choices: Choices
    active: bool


def _check(
    row: Row, address: str, known: Vocabulary, listed: dict[str, str], seen: dict[str, int]
) -> _Accepted:
    """One row's verdict, in the order the reasons are given; raises ChoiceError."""
    if address in seen:
        raise ChoiceError(f"the same address as line {seen[address]}")
    file_status = row.values.get("status", "").lower()
    if file_status not in {"", SubscriberStatus.ACTIVE, SubscriberStatus.PENDING}:
        raise ChoiceError(f"the file says this reader is {file_status}")
    choices = _choices(row, known)
    if address in listed:
        raise ChoiceError(f"already on the list ({listed[address]})")
    return _Accepted(address, choices, file_status != SubscriberStatus.PENDING)


def import_subscribers(
    data: bytes,
    *,
    confirmed: bool,
    source: str,
    settings: Settings,
    now: datetime,
    session: Session,
    on_row: Callable[[Row], None] | None = None,
    on_stored: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Add every acceptable row; the caller commits (or rolls back everything).

    Every row is checked first (``on_row`` after each), against the list with one query
    per LOOKUP_CHUNK addresses; the accepted readers and their consent events are then
    inserted BATCH at a time (``on_stored(done, total)`` after each batch). Readers asked
    to confirm get their confirmation queued as a form signup's is.
    """
    rows = list(read_rows(data))
    known = vocabulary(settings.relevance_file)
    report = ImportReport()
    addresses: dict[int, str] = {}
    for row in rows:
        with contextlib.suppress(InvalidAddressError):
            addresses[row.line] = normalise_address(row.values.get("email", ""))
    listed = _listed(set(addresses.values()), session=session)
    seen: dict[str, int] = {}
    accepted: list[_Accepted] = []
    for row in rows:
        if on_row is not None:
            on_row(row)
        shown = row.values.get("email", "")[:80]
        try:
            if row.extra:
                raise ChoiceError("more fields than the header has columns")
            address = addresses.get(row.line) or normalise_address(row.values.get("email", ""))
            verdict = _check(row, address, known, listed, seen)
        except (InvalidAddressError, ChoiceError) as exc:
            report.rejected.append(Rejected(row.line, shown, str(exc)))
            continue
        seen[address] = row.line
        accepted.append(_Accepted(address, verdict.choices, confirmed and verdict.active))
    for start in range(0, len(accepted), BATCH):
        _store(accepted[start : start + BATCH], source, settings=settings, now=now, session=session)
        report.accepted = min(start + BATCH, len(accepted))
        if on_stored is not None:
            on_stored(report.accepted, len(accepted))
    report.confirmed = sum(a.active for a in accepted)
    return report


def _store(
    batch: list[_Accepted], source: str, *, settings: Settings, now: datetime, session: Session
) -> None:
    """Insert one batch of readers with their consent events (a statement each, and one
    to read the new ids back), and queue the confirmations the pending ones need."""
    consents = {
        active: Consent(
            at=now,
            form="admin-import",
            text=f"{ADMIN_CONFIRMED if active else ADMIN_PENDING} (file {source})",
        )
        for active in (True, False)
    }
    # One row (and one consent event) made the usual way per distinct choice, copied for
    # each reader who made it: building an ORM object per row costs more than the insert.
    templates: dict[tuple[Choices, bool], tuple[dict[str, Any], dict[str, Any]]] = {}
    for a in batch:
        if (a.choices, a.active) not in templates:
            row = admin_subscriber("", a.choices, consents[a.active], confirmed=a.active, now=now)
            event = new_event(0, ADMIN, consents[a.active], a.choices)
            templates[a.choices, a.active] = (_columns(row), _columns(event))
    # Plain executemany, then the ids by address: RETURNING in parameter order would make
    # SQLite insert one row per statement.
    session.execute(
        insert(Subscriber),
        [{**templates[a.choices, a.active][0], "email": a.address} for a in batch],
    )
    found = session.execute(
        select(Subscriber.email, Subscriber.id).where(
            Subscriber.email.in_([a.address for a in batch])
        )
    )
    ids = {email: reader_id for email, reader_id in found}
    session.execute(
        insert(ConsentEvent),
        [{**templates[a.choices, a.active][1], "subscriber_id": ids[a.address]} for a in batch],
    )
    for a in batch:
        if not a.active:
            reader = session.get_one(Subscriber, ids[a.address])
            queue_confirmation(reader, settings=settings, now=now, session=session)


def _columns(row: Subscriber | ConsentEvent) -> dict[str, Any]:
    """The column values set on a row not in a session, for a bulk INSERT."""
    state = row.__dict__
    return {c.key: state[c.key] for c in row.__table__.columns if c.key in state}
