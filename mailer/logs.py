"""Log lines of the long-running commands (run, web, worker, scheduler, poll) and of the
worker process `run` starts: one format, and outside text (feed errors, addresses) passed
through the plain-text filter, so no escape sequence reaches a terminal or a journal."""

from __future__ import annotations

import logging

from mailer.terminal import plain


class PlainFormatter(logging.Formatter):
    """Log lines carry outside text (feed errors, addresses): no escape sequences."""

    def format(self, record: logging.LogRecord) -> str:
        return plain(super().format(record), lines=True)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
