"""Schema migrations: the only way the database schema is created or changed."""

from __future__ import annotations

from functools import cache

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from alembic import command
from mailer.models import Base
from mailer.resources import ALEMBIC_DIR, ALEMBIC_INI


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade_to_head(engine: Engine) -> str:
    """Bring the database to the newest revision (idempotent); returns that revision."""
    head = head_revision()
    if current_revision(engine) == head:
        return head  # nothing to run: alembic's environment need not be loaded
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return head


@cache
def head_revision() -> str:
    """The newest revision in alembic/versions (read once a process: every migration
    script is loaded to find it)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "alembic/versions holds no migration"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_differences(engine: Engine) -> list[object]:
    """What autogenerate would change: empty when models and migrations agree."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, _p: (
                    not (type_ == "table" and name in {"apscheduler_jobs", "alembic_version"})
                ),
            },
        )
        return list(compare_metadata(context, Base.metadata))
