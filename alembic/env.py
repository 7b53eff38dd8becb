"""Alembic environment: the URL comes from Settings, the target is the one metadata."""

from __future__ import annotations

from sqlalchemy import Connection

from alembic import context
from mailer.config import load_settings
from mailer.db import make_engine
from mailer.models import Base

target_metadata = Base.metadata


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    # APScheduler owns its job table; it is not part of our schema.
    return not (type_ == "table" and name == "apscheduler_jobs")


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or load_settings().database
    engine = make_engine(url)
    with engine.connect() as conn:
        run_with(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run `r2p-mailer init`")
run_migrations_online()
