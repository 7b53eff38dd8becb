"""The schema exists only through migrations, and migrations agree with the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from alembic import command
from mailer.db import make_engine
from mailer.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    schema_differences,
    upgrade_to_head,
)
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


def check_sections_and_story_urls_backfill(url: str) -> None:
    engine = make_engine(url, create=True)
    try:
        config = alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
        with engine.begin() as connection:
            for n, (key, feed, always) in enumerate(
                (
                    ("globalr2p", "https://www.globalr2p.org/feed/", True),
                    ("un-press", "https://press.un.org/en/rss.xml", False),
                    ("hr", "https://news.un.org/feed/subscribe/en/news/all/rss.xml", False),
                    ("relief", "https://reliefweb.int/updates/rss.xml", False),
                ),
                start=1,
            ):
                connection.execute(
                    text(
                        "INSERT INTO sources (id, key, url, kind, language, title, enabled,"
                        " always_relevant, consecutive_failures, empty_responses, created_at)"
                        " VALUES (:id, :key, :url, 'rss', 'en', '', true, :always, 0, 0,"
                        " CURRENT_TIMESTAMP)"
                    ),
                    {"id": n, "key": key, "url": feed, "always": always},
                )
            for n, story in enumerate(
                (
                    "https://news.un.org/feed/view/en/story/2026/11/1166421",
                    "https://news.un.org/feed/view/en/audio/2026/11/1166424",
                ),
                start=1,
            ):
                connection.execute(
                    text(
                        "INSERT INTO items (id, source_id, uid, dedupe_key, url, title, author,"
                        " summary_html, summary_text, published_at, fetched_at, tags,"
                        " relevance, relevant) VALUES (:id, 3, :url, :key, :url, 't', '', '',"
                        " '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '{}', 0, false)"
                    ),
                    {"id": n, "url": story, "key": f"k{n}"},
                )
        upgrade_to_head(engine)
        with engine.connect() as connection:
            sections = dict(connection.execute(text("SELECT key, section FROM sources")).all())
            urls = connection.execute(text("SELECT url FROM items ORDER BY id")).scalars().all()
        assert sections == {
            "globalr2p": "global-centre",
            "un-press": "un-press",
            "hr": "un-news",
            "relief": "other",
        }
        assert urls == [
            "https://news.un.org/en/story/2026/11/1166421",
            "https://news.un.org/feed/view/en/audio/2026/11/1166424",  # names no story
        ]
    finally:
        engine.dispose()


def test_sections_and_story_urls_are_backfilled_on_sqlite(tmp_path: Path) -> None:
    check_sections_and_story_urls_backfill(f"sqlite:///{tmp_path / 'old.sqlite3'}")


@pytest.mark.postgres
def test_sections_and_story_urls_are_backfilled_on_postgresql(
    postgres: PostgresDatabases,
) -> None:
    check_sections_and_story_urls_backfill(postgres.create())
