"""Importing readers from the console: a dry run that stores and audits nothing, then the
import, audited by file name; rejected rows with their reasons, escaped."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from mailer.models import Subscriber
from tests.conftest import Db
from tests.support.browser import Reader
from tests.support.console import audit_actions
from tests.support.factories import AMINA, add_readers

IMPORT = "/admin/subscribers/import"
FILE = (
    "email,language,topics\n"
    "new.one@example.org,fr,sudan\n"
    "<b>bad</b>,en,\n"
    "taken@example.org,en,\n"
    "new.two@example.org,en,everything\n"
)


def upload(reader: Reader, data: str, **fields: str) -> httpx.Response:
    token = reader.form_token(IMPORT)
    files = {"file": ("readers.csv", data.encode(), "text/csv")}
    return reader.http.post(IMPORT, data={"csrf_token": token, **fields}, files=files)


def addresses(db: Db) -> list[str]:
    with db.session() as session:
        return sorted(session.scalars(select(Subscriber.email)))


def test_checking_a_file_reports_rows_and_stores_nothing(db: Db, reader: Reader) -> None:
    add_readers(db, ["taken@example.org"])
    response = upload(reader, FILE, mode="check")
    assert response.status_code == 200
    assert "2 rows would be added (0 active, 2 asked to confirm by email); 2 rejected." in (
        response.text
    )
    assert "&lt;b&gt;bad&lt;/b&gt;" in response.text and "<b>bad</b>" not in response.text
    assert addresses(db) == ["taken@example.org"]
    assert [a for a in audit_actions(db) if a[1] == "subscribers.import"] == []


def test_importing_adds_the_rows_and_is_audited_by_file_name(db: Db, reader: Reader) -> None:
    add_readers(db, ["taken@example.org"])
    response = upload(reader, FILE, mode="import", confirmed="on")
    assert response.status_code == 200
    assert "2 rows added (2 active, 0 asked to confirm by email)" in response.text
    assert addresses(db) == ["new.one@example.org", "new.two@example.org", "taken@example.org"]
    [entry] = [a for a in audit_actions(db) if a[1] == "subscribers.import"]
    assert entry == (AMINA, "subscribers.import", "console upload readers.csv")


def test_a_file_that_cannot_be_read_imports_nothing(db: Db, reader: Reader) -> None:
    response = upload(reader, "name,language\nAnna,en\n", mode="import")
    assert response.status_code == 400 and "nothing was imported" in response.text
    assert addresses(db) == []


def test_an_import_needs_its_csrf_token(db: Db, reader: Reader) -> None:
    files = {"file": ("readers.csv", FILE.encode(), "text/csv")}
    response = reader.http.post(IMPORT, data={"mode": "import"}, files=files)
    assert response.status_code == 400
    assert addresses(db) == []
