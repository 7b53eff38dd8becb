"""Link tokens never reach the logs through uvicorn's access log."""

from __future__ import annotations

import logging

from mailer.web.redact import ACCESS_LOGGER, RedactTokens, redact
from service.app import create_app
from tests.conftest import Db


def access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", path, "1.1", 200),
        None,
    )


def test_tokens_in_reader_page_paths_are_redacted() -> None:
    token = "WzEsImFiYyJd.aFbc12.signature-part_xyz"
    for path in (f"/confirm/{token}", f"/preferences/{token}/export", f"/unsubscribe/{token}"):
        record = access_record(path)
        RedactTokens().filter(record)
        message = record.getMessage()
        assert token not in message and "[token]" in message
    assert redact("/subscribe/check-your-inbox") == "/subscribe/check-your-inbox"
    assert redact(f"/preferences/{token}/delete") == "/preferences/[token]/delete"


def test_the_app_installs_the_filter_on_uvicorns_access_log_once(db: Db) -> None:
    create_app(db.settings())
    create_app(db.settings())
    filters = logging.getLogger(ACCESS_LOGGER).filters
    assert sum(isinstance(f, RedactTokens) for f in filters) == 1


def test_the_token_of_an_admin_password_link_is_redacted() -> None:
    token = "eyJhIjoxLCJ1IjoiaW52aXRlIn0.aFbc12.signature"
    assert redact(f"/admin/password/{token}") == "/admin/password/[token]"
    assert redact("/admin/accounts/3/reset") == "/admin/accounts/3/reset"
