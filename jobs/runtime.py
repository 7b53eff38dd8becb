"""The running process's context for scheduled jobs.

APScheduler stores jobs by import path in the database, so job functions take no
arguments; the process that runs the scheduler installs its settings, session factory and
a way to wake its delivery worker here first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.errors import MailerError


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    factory: sessionmaker[Session]
    wake_worker: Callable[[], None] = field(default=lambda: None)


_installed: list[Runtime] = []


def install(runtime: Runtime) -> None:
    _installed[:] = [runtime]


def current() -> Runtime:
    if not _installed:
        raise MailerError("no runtime installed: jobs run only inside the scheduler")
    return _installed[0]
