"""Importing readers in batches: a few statements per thousand rows, not several per row;
still all or nothing (a killed import leaves nothing), every rejected row reported with its
line, duplicates caught within the file and against the list across batch boundaries, and
an unsubscribe never undone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from mailer.db import session_scope
from mailer.models import ConsentEvent, Delivery, Subscriber
from subscribers.importer import BATCH, import_subscribers
from tests.conftest import Db
from tests.support.factories import add_readers
from tests.support.paths import PROJECT

ROWS = 2 * BATCH + 500  # three batches


def big_file(rows: int = ROWS) -> bytes:
    lines = ["email,language,topics"]
    for n in range(rows):
        lines.append(f"reader{n}@example.org,{('en', 'fr', 'ar')[n % 3]},{'sudan' * (n % 2)}")
    return ("\n".join(lines) + "\n").encode()


@contextmanager
def counted_statements(db: Db) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def run_import(db: Db, data: bytes, *, confirmed: bool = True, **kwargs: Any) -> Any:
    with session_scope(db.factory) as session:
        return import_subscribers(
            data,
            confirmed=confirmed,
            source="readers.csv",
            settings=db.settings(),
            now=datetime.now(UTC),
            session=session,
            **kwargs,
        )


def count(db: Db, model: type[Any]) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_an_import_takes_a_few_statements_per_batch_not_per_row(db: Db) -> None:
    with counted_statements(db) as statements:
        report = run_import(db, big_file())
    assert report.accepted == ROWS and not report.rejected
    assert count(db, Subscriber) == ROWS and count(db, ConsentEvent) == ROWS
    # Looking up, inserting readers and their consent events: a handful per batch.
    assert len(statements) <= 10 * (ROWS // BATCH + 1), len(statements)


def test_duplicates_and_listed_addresses_are_rejected_across_batches(db: Db) -> None:
    add_readers(db, ["gone@example.org"], status="unsubscribed")
    add_readers(db, ["here@example.org"], status="active")
    lines = ["email,language,topics"]
    for n in range(ROWS):
        lines.append(f"reader{n}@example.org,en,")
    lines[BATCH + 10] = "Reader3@Example.org,en,"  # the same as line 5, a batch later
    lines[2 * BATCH + 7] = "gone@example.org,fr,"  # unsubscribed: stays so
    lines[2 * BATCH + 8] = "here@example.org,fr,"
    lines[2 * BATCH + 9] = "not-an-address,en,"
    lines[2 * BATCH + 11] = "gone@example.org,en,"  # listed, again: the same reason
    report = run_import(db, ("\n".join(lines) + "\n").encode())
    rejected = {(r.line, r.reason) for r in report.rejected}
    assert (BATCH + 11, "the same address as line 5") in rejected
    assert (2 * BATCH + 8, "already on the list (unsubscribed)") in rejected
    assert (2 * BATCH + 9, "already on the list (active)") in rejected
    assert (2 * BATCH + 12, "already on the list (unsubscribed)") in rejected
    assert any(line == 2 * BATCH + 10 and "@-sign" in why for line, why in rejected)
    assert len(report.rejected) == 5
    assert [r.line for r in report.rejected] == sorted(r.line for r in report.rejected)
    assert report.accepted == ROWS - 5
    with db.session() as session:
        gone = session.scalar(select(Subscriber).where(Subscriber.email == "gone@example.org"))
        assert gone is not None and gone.status == "unsubscribed" and gone.language == "en"
        assert (
            session.scalar(select(func.count()).where(Subscriber.email == "reader3@example.org"))
            == 1
        )


def test_pending_readers_are_asked_to_confirm_each(db: Db) -> None:
    data = b"email,language\nanna@example.org,fr\nbob@example.net,en\n"
    report = run_import(db, data, confirmed=False)
    assert report.accepted == 2 and report.confirmed == 0
    with db.session() as session:
        statuses = set(session.scalars(select(Subscriber.status)))
        queued = session.scalar(select(func.count()).select_from(Delivery))
    assert statuses == {"pending"} and queued == 2


KILLED_IMPORT = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from mailer.config import Settings
from mailer.db import make_engine, make_sessionmaker, write_session
from subscribers.importer import import_subscribers

url, csv_path = sys.argv[1:3]
settings = Settings(_env_file=None, database_url=url, var_dir=Path(csv_path).parent / "var",
                    secret_key="test-secret-key-not-for-production")
factory = make_sessionmaker(make_engine(url))

def stored(done, total):
    if done >= total // 2:
        print("halfway", done, total, flush=True)
        time.sleep(600)

with write_session(factory) as session:
    import_subscribers(Path(csv_path).read_bytes(), confirmed=True, source="x.csv",
                       settings=settings, now=datetime.now(UTC), session=session,
                       on_stored=stored)
"""


def test_an_import_killed_midway_leaves_nothing_and_the_database_usable(
    db: Db, tmp_path: Path
) -> None:
    path = tmp_path / "readers.csv"
    path.write_bytes(big_file())
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_IMPORT, db.url, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[0] == "halfway" and 0 < int(line[1]) < ROWS, line
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert count(db, Subscriber) == 0 and count(db, ConsentEvent) == 0
    report = run_import(db, big_file(10))  # nothing locked, nothing left half-done
    assert report.accepted == 10 and count(db, Subscriber) == 10
