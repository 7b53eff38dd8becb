"""Keeping link tokens out of logs: uvicorn's access log prints every request path, and
the paths of the reader's pages carry signed tokens (anyone holding one can manage or
unsubscribe that reader), and so do the admins' password links (``/admin/password/``)."""

from __future__ import annotations

import logging
import re

TOKEN_IN_PATH = re.compile(r"(/(?:confirm|preferences|unsubscribe|data|admin/password)/)[^/?#\s]+")
ACCESS_LOGGER = "uvicorn.access"


def redact(path: str) -> str:
    return TOKEN_IN_PATH.sub(r"\1[token]", path)


class RedactTokens(logging.Filter):
    """uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with the path as the third argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_log() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
        logger.addFilter(RedactTokens())
