"""``r2p-mailer subscribers``: list, add, import (bad rows, encodings, BOM, all or
nothing), export, suppress and allow again, remove, purge; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.db import session_scope
from mailer.models import AuditEntry, Erasure, Subscriber
from subscribers.importer import Row, import_subscribers
from subscribers.preferences import unsubscribe
from tests.conftest import Db
from tests.support.browser import deliver, link_in
from tests.support.running import invoke


def subscribers(db: Db) -> dict[str, Subscriber]:
    with db.factory() as session:
        return {s.email: s for s in session.scalars(select(Subscriber))}


def write(tmp_path: Path, data: bytes, name: str = "readers.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_every_subscribers_command_has_help() -> None:
    for command in ("list", "add", "import", "export", "suppress", "allow", "remove", "purge"):
        code, output = invoke("subscribers", command, "--help")
        assert code == 0 and "Usage" in output, command
    assert "subscribers" in invoke("--help")[1]


def test_add_list_and_remove(cli_env: Db) -> None:
    code, output = invoke("subscribers", "add", "Anna@Example.org", "--topic", "sudan")
    assert code == 0 and "anna@example.org (pending)" in output
    code, output = invoke("subscribers", "add", "bob@example.org", "--confirmed", "--no-alerts")
    assert code == 0 and "bob@example.org (active)" in output
    found = subscribers(cli_env)
    assert found["anna@example.org"].topics == ["sudan"]
    assert found["bob@example.org"].confirmed_at is not None
    assert not found["bob@example.org"].wants_alerts
    assert found["bob@example.org"].consent_form == "admin-cli"

    code, output = invoke("subscribers", "list")
    assert code == 0 and "anna@example.org" in output and "bob@example.org" in output
    assert "2 subscriber(s)" in output
    code, output = invoke("subscribers", "list", "--status", "active")
    assert "bob@example.org" in output and "anna@example.org" not in output
    assert invoke("subscribers", "list", "--status", "happy")[0] == 1

    code, output = invoke("subscribers", "add", "ANNA@example.org", "--confirmed")
    assert code == 1 and "already on the list (pending)" in output
    code, output = invoke("subscribers", "add", "anna@example.org.")
    assert code == 1 and "cannot end with a period" in output
    code, output = invoke("subscribers", "add", "carol@example.org", "--topic", "atlantis")
    assert code == 1 and "Unknown topic: atlantis" in output

    code, output = invoke("subscribers", "remove", "Anna@EXAMPLE.org")
    assert code == 0 and "Removed anna@example.org" in output
    assert set(subscribers(cli_env)) == {"bob@example.org"}
    with cli_env.factory() as session:
        assert session.scalars(select(Erasure.was_status)).all() == ["pending"]
    code, output = invoke("subscribers", "remove", "nobody@example.org")
    assert code == 1 and "no subscriber" in output


def test_suppress_and_allow_again_are_audited_as_the_cli_user(cli_env: Db) -> None:
    assert invoke("subscribers", "add", "anna@example.org", "--confirmed")[0] == 0
    code, output = invoke("subscribers", "suppress", "Anna@Example.org")
    assert code == 0 and "Suppressed anna@example.org" in output
    assert subscribers(cli_env)["anna@example.org"].status == "unsubscribed"
    code, output = invoke("subscribers", "allow", "anna@example.org")
    assert code == 0 and "Allowed anna@example.org again" in output
    assert subscribers(cli_env)["anna@example.org"].status == "active"
    with cli_env.factory() as session:
        actions = session.execute(
            select(AuditEntry.action, AuditEntry.target).where(
                AuditEntry.action.in_(["subscriber.suppress", "subscriber.allow"])
            )
        ).all()
    anna = subscribers(cli_env)["anna@example.org"].id
    assert [tuple(a) for a in actions] == [
        ("subscriber.suppress", f"subscriber:{anna}"),
        ("subscriber.allow", f"subscriber:{anna}"),
    ]


def test_a_reader_who_unsubscribed_themself_cannot_be_allowed_again(cli_env: Db) -> None:
    assert invoke("subscribers", "add", "bob@example.org", "--confirmed")[0] == 0
    with session_scope(cli_env.factory) as session:
        bob = session.scalars(select(Subscriber)).one()
        unsubscribe(bob, now=datetime.now(UTC), session=session)
    code, output = invoke("subscribers", "allow", "bob@example.org")
    assert code == 1 and "Only the reader can come back" in output
    assert subscribers(cli_env)["bob@example.org"].status == "unsubscribed"


def test_an_added_reader_gets_a_confirmation_email(cli_env: Db) -> None:
    invoke("subscribers", "add", "anna@example.org")
    [message] = deliver(cli_env.settings(), cli_env.factory)
    assert message["To"] == "anna@example.org" and link_in(message, "confirm")
    invoke("subscribers", "add", "bob@example.org", "--confirmed")
    assert deliver(cli_env.settings(), cli_env.factory) == []


GOOD_AND_BAD = (
    "email,language,topics\n"
    "anna@example.org,fr,genocide sudan\n"
    "Bob@Example.org,,\n"
    "\n"
    "not-an-address,en,\n"
    "ANNA@example.org,en,\n"
    "carol@example.org,xx,\n"
    "dave@example.org,en,genocide;atlantis\n"
    'erin@example.org,en,"war-crimes, myanmar"\n'
    "frank@example.org,en,all,surprise\n"
    '"grace@example.org\r\nBcc: x@example.org",en,\n'
    "heidi@example.org.,en,\n"
)


def test_import_reports_accepted_and_rejected_rows_with_reasons(
    cli_env: Db, tmp_path: Path
) -> None:
    invoke("subscribers", "add", "heidi@example.org", "--confirmed")
    code, output = invoke("subscribers", "import", write(tmp_path, GOOD_AND_BAD.encode()))
    assert code == 0, output
    assert "3 row(s) imported (0 active, 3 asked to confirm by email); 7 rejected." in output
    for line, reason in (
        (5, "must have an @-sign"),
        (6, "the same address as line 2"),
        (7, "Unknown language: xx"),
        (8, "Unknown topic: atlantis"),
        (10, "more fields than the header"),
        (12, "line break or control character"),
        (13, "cannot end with a period"),
    ):
        rows = output.splitlines()
        assert any(row.startswith(f"{line}\t") and reason in row for row in rows), output
    found = subscribers(cli_env)
    assert set(found) == {
        "anna@example.org",
        "bob@example.org",
        "erin@example.org",
        "heidi@example.org",
    }
    assert (found["anna@example.org"].language, found["anna@example.org"].topics) == (
        "fr",
        ["genocide", "sudan"],
    )
    assert found["erin@example.org"].topics == ["war-crimes", "myanmar"]
    assert found["bob@example.org"].status == "pending"
    assert "readers.csv" in found["bob@example.org"].consent_text
    assert len(deliver(cli_env.settings(), cli_env.factory)) == 3


def test_import_confirmed_readers_never_undoes_an_unsubscribe(cli_env: Db, tmp_path: Path) -> None:
    invoke("subscribers", "add", "gone@example.org", "--confirmed")
    with session_scope(cli_env.factory) as session:
        gone = session.scalar(select(Subscriber).where(Subscriber.email == "gone@example.org"))
        assert gone is not None
        gone.status = "unsubscribed"
    data = b"email\nnew@example.org\ngone@example.org\n"
    code, output = invoke("subscribers", "import", write(tmp_path, data), "--confirmed")
    assert code == 0 and "1 row(s) imported (1 active" in output
    assert "already on the list (unsubscribed)" in output
    found = subscribers(cli_env)
    assert found["new@example.org"].status == "active"
    assert found["new@example.org"].consent_form == "admin-import"
    assert found["gone@example.org"].status == "unsubscribed"
    assert deliver(cli_env.settings(), cli_env.factory) == []


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\xef\xbb\xbfemail,language\nanna@example.org,fr\n", "UTF-8 with a BOM"),
        (b"Email\r\nanna@example.org\r\n", "CRLF"),
        ("email,language\nanna@example.org,fr\n".encode("utf-16"), "UTF-16 with a BOM"),
        (b" EMAIL ,Language\nanna@example.org,fr\n", "spaced header"),
    ],
)
def test_import_reads_a_bom_utf16_and_crlf(
    cli_env: Db, tmp_path: Path, data: bytes, what: str
) -> None:
    code, output = invoke("subscribers", "import", write(tmp_path, data))
    assert code == 0 and "1 row(s) imported" in output, what
    assert set(subscribers(cli_env)) == {"anna@example.org"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"email,language\nanna@example.org,en\nren\xe9@example.org,fr\n",
            "line 3 is not UTF-8 (byte 0xe9)",
        ),
        ("email\nanna@example.org\n".encode("utf-16-le"), "NUL bytes"),
        (b"address,language\nanna@example.org,en\n", "no 'email' column"),
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf", "the file is empty"),
    ],
)
def test_import_refuses_an_unreadable_file_and_imports_nothing(
    cli_env: Db, tmp_path: Path, data: bytes, message: str
) -> None:
    code, output = invoke("subscribers", "import", write(tmp_path, data))
    assert code == 1 and message in output and "nothing was imported" in output
    assert subscribers(cli_env) == {}


def test_import_of_a_missing_file_says_so(cli_env: Db, tmp_path: Path) -> None:
    code, output = invoke("subscribers", "import", str(tmp_path / "nope.csv"))
    assert code == 1 and "cannot read" in output


def test_a_dry_run_checks_everything_and_imports_nothing(cli_env: Db, tmp_path: Path) -> None:
    code, output = invoke(
        "subscribers", "import", write(tmp_path, GOOD_AND_BAD.encode()), "--dry-run"
    )
    assert code == 0 and "3 row(s) would be imported" in output and "7 rejected" in output
    assert subscribers(cli_env) == {}


def test_an_import_that_crashes_half_way_leaves_nothing_behind(db: Db) -> None:
    data = b"email\n" + b"".join(f"reader{i}@example.org\n".encode() for i in range(10))

    def crash_at_row_6(row: Row) -> None:
        if row.line == 7:
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"), session_scope(db.factory) as session:
        import_subscribers(
            data,
            confirmed=True,
            source="readers.csv",
            settings=db.settings(),
            now=datetime.now(UTC),
            session=session,
            on_row=crash_at_row_6,
        )
    with db.factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_export_writes_every_reader_with_consent_and_imports_back(
    cli_env: Db, tmp_path: Path
) -> None:
    invoke("subscribers", "add", "anna@example.org", "--confirmed", "--topic", "genocide")
    invoke("subscribers", "add", "bob@example.org")
    invoke("subscribers", "add", "gone@example.org", "--confirmed")
    with session_scope(cli_env.factory) as session:
        gone = session.scalar(select(Subscriber).where(Subscriber.email == "gone@example.org"))
        assert gone is not None
        gone.status = "unsubscribed"

    code, output = invoke("subscribers", "export")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(output)))
    assert [r["email"] for r in rows] == ["anna@example.org", "bob@example.org", "gone@example.org"]
    assert rows[0]["topics"] == "genocide" and rows[0]["consent_form"] == "admin-cli"
    assert rows[0]["status"] == "active" and rows[1]["status"] == "pending"

    out = tmp_path / "export.csv"
    code, output = invoke("subscribers", "export", "--out", str(out), "--status", "active")
    assert code == 0 and "Exported 1 subscriber(s)" in output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    invoke("subscribers", "export", "--out", str(out))
    for address in ("anna@example.org", "bob@example.org", "gone@example.org"):
        invoke("subscribers", "remove", address)

    code, output = invoke("subscribers", "import", str(out), "--confirmed")
    assert code == 0 and "2 row(s) imported (1 active, 1 asked to confirm" in output
    assert "the file says this reader is unsubscribed" in output
    found = subscribers(cli_env)
    assert found["anna@example.org"].status == "active"
    assert found["anna@example.org"].topics == ["genocide"]
    assert found["bob@example.org"].status == "pending"
    assert "gone@example.org" not in found


def test_purge_deletes_old_unconfirmed_signups(cli_env: Db) -> None:
    invoke("subscribers", "add", "old@example.org")
    invoke("subscribers", "add", "new@example.org")
    with session_scope(cli_env.factory) as session:
        old = session.scalar(select(Subscriber).where(Subscriber.email == "old@example.org"))
        assert old is not None
        old.consent_at = datetime(2020, 1, 1, tzinfo=UTC)
    code, output = invoke("subscribers", "purge")
    assert code == 0 and "Deleted 1 unconfirmed signup(s) older than 14 days" in output
    assert set(subscribers(cli_env)) == {"new@example.org"}
    code, output = invoke("subscribers", "purge", "--older-than", "soon")
    assert code == 2 and "--older-than" in output
