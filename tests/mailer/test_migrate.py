"""The schema exists only through migrations, and migrations agree with the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from mailer.db import make_engine
from mailer.migrate import current_revision, head_revision, schema_differences, upgrade_to_head
from tests.conftest import PostgresDatabases


def check_fresh_database(url: str) -> None:
    engine = make_engine(url, create=True)
    try:
        assert current_revision(engine) is None
        assert upgrade_to_head(engine) == head_revision()
        assert upgrade_to_head(engine) == head_revision()  # idempotent
        assert current_revision(engine) == head_revision()
        assert {"sources", "items"} <= set(inspect(engine).get_table_names())
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_models_and_migrations_agree_on_sqlite(tmp_path: Path) -> None:
    check_fresh_database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")


@pytest.mark.postgres
def test_models_and_migrations_agree_on_postgresql(postgres: PostgresDatabases) -> None:
    check_fresh_database(postgres.create())


def test_a_model_change_without_a_migration_is_detected(tmp_path: Path) -> None:
    from sqlalchemy import Column, String, Table

    from mailer.models import Base

    engine = make_engine(f"sqlite:///{tmp_path / 'drift.sqlite3'}", create=True)
    upgrade_to_head(engine)
    extra = Table("extra_table", Base.metadata, Column("name", String(10), primary_key=True))
    try:
        differences = schema_differences(engine)
    finally:
        Base.metadata.remove(extra)
        engine.dispose()
    assert any("extra_table" in repr(diff) for diff in differences)
