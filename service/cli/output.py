"""Records printed by list commands, as a table for people or as data for scripts.

Every list command takes ``--format table|tsv|json|csv`` and prints through ``print_records``:

- ``table``: a rich table (the default when stdout is a terminal); values are escaped, so
  text from outside is never read as rich markup, and long values fold, never get cut
  (datetimes are shown to the minute, flags as yes/no).
- ``tsv`` (the default when stdout is not a terminal): a header line, then one line per
  record, never wrapped or cut; tabs, line breaks, escape sequences and other control
  characters inside a value become a space or are dropped, so a record stays one line.
- ``json``: one JSON array of objects with machine keys; datetimes in ISO 8601.
- ``csv``: the formula-safe CSV of ``mailer.spreadsheet``.

Status lines and progress bars go to stderr (``service.cli.context.errors``), so stdout
carries the data alone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from mailer.spreadsheet import write_csv
from mailer.terminal import plain, safe
from service.cli.context import console


class Format(StrEnum):
    """How a list command prints its records."""

    TABLE = "table"
    TSV = "tsv"
    JSON = "json"
    CSV = "csv"


FormatOption = Annotated[
    Format | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        case_sensitive=False,
        help="table, tsv, json or csv (default: table on a terminal, tsv in a pipe or file).",
    ),
]


@dataclass(frozen=True)
class Column:
    """One field of a record: ``key`` in tsv/csv headers and JSON, ``heading`` in tables;
    a field with ``in_table`` False is left out of the table (the command's help says so)
    and printed in every other format."""

    key: str
    heading: str
    in_table: bool = True


def chosen(format: Format | None) -> Format:
    """The format asked for, or the default for where stdout goes."""
    if format is not None:
        return format
    return Format.TABLE if console.is_terminal else Format.TSV


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return " ".join(str(part) for part in value)
    return str(value)


def _shown(value: object) -> str:
    """A value in a table cell, for people: yes/no, datetimes to the minute."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return _text(value)


def _json(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def print_records(
    records: Iterable[Mapping[str, object]],
    columns: Sequence[Column],
    *,
    format: Format | None,
    title: str,
) -> int:
    """Print ``records`` (each holding every column's key) in ``format``; returns how
    many were printed. tsv, json and csv stream; a table is printed once complete."""
    how = chosen(format)
    out = sys.stdout
    keys = [column.key for column in columns]
    count = 0
    if how is Format.CSV:
        return write_csv(out, keys, ([_text(r[key]) for key in keys] for r in records))
    if how is Format.TSV:
        out.write("\t".join(keys) + "\n")
        for record in records:
            out.write("\t".join(plain(_text(record[key])) for key in keys) + "\n")
            count += 1
        return count
    if how is Format.JSON:
        out.write("[")
        for record in records:
            item = {key: _json(record[key]) for key in keys}
            out.write(("," if count else "") + "\n" + json.dumps(item, ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count
    table = Table(title=title)
    shown = [column for column in columns if column.in_table]
    for column in shown:
        table.add_column(column.heading, overflow="fold")
    for record in records:
        table.add_row(*(safe(_shown(record[column.key])) for column in shown))
        count += 1
    console.print(table)
    return count
