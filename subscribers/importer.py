"""Importing readers from a CSV file (columns ``email``, ``language``, ``topics``).

The file is checked as a whole first: it must be UTF-8 (a BOM is fine) or UTF-16 with a
BOM, with an ``email`` column. Each row is then accepted or rejected with a reason, and
the accepted rows are added in the caller's single transaction, so a crash leaves
nothing half-imported. Addresses already on the list are never touched: an import must
not undo an unsubscribe. A ``status`` column (as ``subscribers export`` writes) is
honoured: only ``active`` rows keep their confirmation, ``pending`` rows must confirm,
and any other status is rejected. A cell that `export` quoted against spreadsheet formula
injection (a leading ' before = + - @, tab or CR) is read back without that quote, so an
export imports back to the same addresses (mailer/spreadsheet.py).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.errors import MailerError
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
from subscribers.consent import ADMIN_CONFIRMED, ADMIN_PENDING, Consent
from subscribers.signup import AlreadyListedError, add_by_admin

EVERYTHING = {"", "all", "everything", "*"}
_TOPIC_SEPARATORS = re.compile(r"[\s,;|]+")
_EXTRA = "\x00extra"


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


def import_subscribers(
    data: bytes,
    *,
    confirmed: bool,
    source: str,
    settings: Settings,
    now: datetime,
    session: Session,
    on_row: Callable[[Row], None] | None = None,
) -> ImportReport:
    """Add every acceptable row; the caller commits (or rolls back everything)."""
    rows = list(read_rows(data))
    known = vocabulary(settings.relevance_file)
    report = ImportReport()
    seen: dict[str, int] = {}
    for row in rows:
        if on_row is not None:
            on_row(row)
        shown = row.values.get("email", "")[:80]
        try:
            if row.extra:
                raise ChoiceError("more fields than the header has columns")
            address = normalise_address(row.values.get("email", ""))
            if address in seen:
                raise ChoiceError(f"the same address as line {seen[address]}")
            file_status = row.values.get("status", "").lower()
            if file_status not in {"", "active", "pending"}:
                raise ChoiceError(f"the file says this reader is {file_status}")
            active = confirmed and file_status != "pending"
            consent = Consent(
                at=now,
                form="admin-import",
                text=f"{ADMIN_CONFIRMED if active else ADMIN_PENDING} (file {source})",
            )
            add_by_admin(
                address,
                _choices(row, known),
                consent,
                confirmed=active,
                settings=settings,
                now=now,
                session=session,
            )
        except (InvalidAddressError, ChoiceError, AlreadyListedError) as exc:
            report.rejected.append(Rejected(row.line, shown, str(exc)))
            continue
        seen[address] = row.line
        report.accepted += 1
        report.confirmed += int(active)
    return report
