"""Shared fixtures: migrated databases (SQLite always, PostgreSQL when configured), settings,
a local feed server, and cheap admin password hashes."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mailer import admins
from mailer.config import Settings
from mailer.db import make_engine, make_sessionmaker
from mailer.migrate import upgrade_to_head
from mailer.models import Base
from tests.support.browser import close_shared_browser
from tests.support.feedserver import FeedServer
from tests.support.smtpserver import SMTPServer

POSTGRES_URL = os.environ.get("R2P_TEST_POSTGRES_URL", "")
NO_POSTGRES = (
    "PostgreSQL tests need R2P_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)"
)
# Microseconds a hash instead of ~0.1 s at the production cost, which every admin test
# would pay at least twice (the account, the login). tests/test_admin_passwords.py checks
# that production keeps its cost and that hashes verify by the cost they carry.
TEST_SCRYPT_COST = admins.ScryptCost(n=2**4, r=8, p=1)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the root logger back after each test: a command run in-process configures
    logging onto the test runner's stderr, which is closed once the command returns, and a
    later test's log line would then print a logging error into that test's output."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module", autouse=True)
def close_browser_after_module() -> Iterator[None]:
    """A module's Chromium tests share one browser (tests/support/browser.py); it is closed
    before the next module, whose tests may run event loops in this thread."""
    yield
    close_shared_browser()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[admins.ScryptCost]:
    """Admin passwords in this test process are hashed at ``TEST_SCRYPT_COST``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(admins, "scrypt_cost", TEST_SCRYPT_COST)
        yield TEST_SCRYPT_COST


def make_settings(tmp_path: Path, database_url: str = "", **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": tmp_path / "var",
        "database_url": database_url,
        "allow_private_feeds": True,
        "secret_key": "test-secret-key-not-for-production",
        "feed_timeout": "5s",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class PostgresDatabases:
    """Creates throw-away databases on the configured server, dropping them at the end."""

    def __init__(self, admin_url: str) -> None:
        url = make_url(admin_url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        self.admin_url = url
        self.created: list[str] = []
        self.admin = make_engine(
            url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
        )

    def create(self) -> str:
        name = f"r2p_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    databases = PostgresDatabases(POSTGRES_URL)
    try:
        with databases.admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(f"R2P_TEST_POSTGRES_URL is set but the server is unreachable: {exc}")
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}", create=True)
    upgrade_to_head(engine)
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_migrated(request: pytest.FixtureRequest) -> str:
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    url = databases.create()
    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    return url


@dataclass
class Db:
    url: str
    engine: Engine
    factory: sessionmaker[Session]
    tmp_path: Path

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def settings(self, **overrides: Any) -> Settings:
        return make_settings(self.tmp_path, self.url, **overrides)

    def session(self) -> Session:
        return self.factory()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """A migrated, empty database: a copy of a SQLite template, or this worker's PostgreSQL
    test database, emptied after each test."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_migrated")
    engine = make_engine(url)
    yield Db(url=url, engine=engine, factory=make_sessionmaker(engine), tmp_path=tmp_path)
    if request.param != "sqlite":
        # A process the test started may still be connected (a server shutting down):
        # end its sessions first, or emptying the tables can wait for its last writes.
        # DELETE and a sequence restart, not TRUNCATE: TRUNCATE costs ~160 ms a test
        # (new files for every table), DELETE of a test's few rows ~2 ms.
        engine.dispose()
        with engine.begin() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
            sequences = conn.scalars(
                text("SELECT sequence_name FROM information_schema.sequences")
            ).all()
            for sequence in sequences:
                conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    engine.dispose()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real aiosmtpd server on loopback; script its answers through ``.handler``."""
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def cli_env(db: Db, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Db:
    """The environment an operator's shell would have for ``r2p-mailer`` on ``db``."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("R2P_") and n != "R2P_TEST_POSTGRES_URL"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("R2P_DATABASE_URL", db.url)
    monkeypatch.setenv("R2P_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("R2P_SECRET_KEY", "test-secret-key-not-for-production")
    monkeypatch.setenv("R2P_ALLOW_PRIVATE_FEEDS", "true")
    monkeypatch.setenv("COLUMNS", "200")
    return db


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests drive each flow once, on SQLite: their PostgreSQL twins would repeat
    the same pages through Chromium (the costliest tests) while the in-process tests
    already cover every flow's database work on PostgreSQL."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("db") == "postgresql"
        (dropped if on_postgres and item.get_closest_marker("browser") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
