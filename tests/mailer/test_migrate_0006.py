"""Migration 0006 on a database with readers in it: every row, delivery and consent record
kept, a link secret for each reader, their consent as the first history entry, and ids
that are never handed out again (AUTOINCREMENT on SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from alembic import command
from mailer.db import make_engine
from mailer.migrate import alembic_config, schema_differences, upgrade_to_head
from subscribers.addresses import mailbox_key, normalise_address
from tests.conftest import PostgresDatabases


def upgrade_to(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def fill_at_0005(engine: Engine) -> None:
    with engine.begin() as conn:
        for i, status in enumerate(("active", "unsubscribed", "pending"), start=1):
            conn.execute(
                text(
                    "INSERT INTO subscribers (email, status, language, wants_digest,"
                    " wants_alerts, topics, consent_at, consent_form, consent_text, consent_ip,"
                    " consent_user_agent, created_at, hard_bounces) VALUES (:email,"
                    " :status, 'en', true, true, '[]', '2026-01-02 03:04:05', 'v1', 'I agree',"
                    " '192.0.2.7', 'Agent/1', '2026-01-02 03:04:05', 0)"
                ),
                {"email": f"reader{i}@example.org", "status": status},
            )
        conn.execute(
            text(
                "INSERT INTO campaigns (kind, key, template, subject, context, status,"
                " priority, created_at, created_by, approved_by) VALUES ('digest', 'd1',"
                " 'digest', 's', '{}', 'done', 0, '2026-01-02 03:04:05', '', '')"
            )
        )
        for i in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO deliveries (campaign_id, subscriber_id, content_key, status,"
                    " priority, attempts, next_attempt_at, deadline_at, claimed_by,"
                    " last_reply, message_id, created_at) VALUES (1, :i, '', 'sent', 0, 1,"
                    " '2026-01-02 03:04:05', '2026-01-03 03:04:05', '', '', '',"
                    " '2026-01-02 03:04:05')"
                ),
                {"i": i},
            )


def check_upgrade(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade_to(engine, "0005")
        fill_at_0005(engine)
        upgrade_to_head(engine)
        assert schema_differences(engine) == []
        with engine.begin() as conn:
            assert conn.scalar(text("SELECT count(*) FROM deliveries")) == 3
            rows = conn.execute(
                text("SELECT id, email, status, link_secret FROM subscribers ORDER BY id")
            ).all()
            assert [(r.id, r.status) for r in rows] == [
                (1, "active"),
                (2, "unsubscribed"),
                (3, "pending"),
            ]
            secrets = {r.link_secret for r in rows}
            assert len(secrets) == 3 and all(s and len(s) >= 22 for s in secrets)
            history = conn.execute(
                text(
                    "SELECT subscriber_id, event, form, ip, user_agent FROM consent_events"
                    " ORDER BY subscriber_id, id"
                )
            ).all()
            assert [tuple(h) for h in history] == [
                (1, "migrated", "v1", "192.0.2.7", "Agent/1"),
                (2, "migrated", "v1", "192.0.2.7", "Agent/1"),
                (2, "withdrawn", "before 0006", "", ""),  # the unsubscribe is history too
                (3, "migrated", "v1", "192.0.2.7", "Agent/1"),
            ]
            conn.execute(text("DELETE FROM subscribers WHERE id = 3"))
            assert conn.scalar(text("SELECT count(*) FROM deliveries")) == 2  # cascade works
            conn.execute(
                text(
                    "INSERT INTO subscribers (email, status, language, wants_digest,"
                    " wants_alerts, topics, consent_form, consent_text, consent_ip,"
                    " consent_user_agent, created_at, hard_bounces, link_secret) VALUES"
                    " ('new@example.org', 'pending', 'en', true, true, '[]', '', '', '', '',"
                    " '2026-01-02 03:04:05', 0, 'a-fresh-secret-of-enough-length')"
                )
            )
            new_id = conn.scalar(text("SELECT id FROM subscribers WHERE email = 'new@example.org'"))
            assert new_id is not None and new_id > 3
            if engine.dialect.name == "sqlite":
                sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'subscribers'"))
                assert "AUTOINCREMENT" in str(sql)
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
                assert conn.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        engine.dispose()


def test_0006_keeps_every_reader_and_delivery_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    path.touch(mode=0o600)  # an empty file is an empty database
    check_upgrade(f"sqlite:///{path}")


def test_0006_runs_again_after_failing_in_the_sqlite_rebuild(tmp_path: Path) -> None:
    """The rebuild commits the first steps before alembic records 0006; a run that failed
    there (here: a delivery of a reader who is gone, found by the foreign-key check) must
    run again from where it stopped once the cause is fixed, and fill in the secret of a
    reader that a process still running the old code added in between."""
    path = tmp_path / "old.sqlite3"
    path.touch(mode=0o600)
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade_to(engine, "0005")
        fill_at_0005(engine)
        with engine.connect() as conn:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            conn.execute(text("UPDATE deliveries SET subscriber_id = 99 WHERE id = 3"))
            conn.commit()
        with pytest.raises(RuntimeError, match="foreign keys broken"):
            upgrade_to_head(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE deliveries SET subscriber_id = 3 WHERE id = 3"))
            conn.execute(
                text(
                    "INSERT INTO subscribers (email, status, language, wants_digest,"
                    " wants_alerts, topics, consent_form, consent_text, consent_ip,"
                    " consent_user_agent, created_at, hard_bounces) VALUES"
                    " ('meanwhile@example.org', 'pending', 'en', true, true, '[]', '', '', '',"
                    " '', '2026-01-02 03:04:05', 0)"
                )
            )
        upgrade_to_head(engine)
        assert schema_differences(engine) == []
        with engine.begin() as conn:
            secrets = conn.execute(text("SELECT link_secret FROM subscribers")).scalars().all()
            assert len(secrets) == 4 and all(secrets) and len(set(secrets)) == 4
            migrated = conn.scalar(
                text("SELECT count(*) FROM consent_events WHERE event = 'migrated'")
            )
            assert migrated == 3  # seeded once, not again by the second run
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_0006_keeps_every_reader_and_delivery_on_postgresql(postgres: PostgresDatabases) -> None:
    check_upgrade(postgres.create())


@pytest.mark.parametrize(
    ("raw", "mailbox"),
    [
        ("Anna+News@Example.org", "anna@example.org"),
        ("anna@example.org", "anna@example.org"),
        ("a.n.n.a+x@gmail.com", "anna@gmail.com"),
        ("Anna.Smith@googlemail.com", "annasmith@gmail.com"),
        ("anna.smith@example.org", "anna.smith@example.org"),
        ("=1+2@example.org", "=1@example.org"),
        ("+tag@example.org", "+tag@example.org"),
    ],
)
def test_one_mailbox_key_for_every_spelling(raw: str, mailbox: str) -> None:
    assert mailbox_key(normalise_address(raw)) == mailbox
