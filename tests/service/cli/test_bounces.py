"""`r2p-mailer bounces fetch` against a loopback IMAP server: a line per message, a
summary, the mailbox emptied; a wrong password is one error line and exit 1."""

from __future__ import annotations

import pytest

from tests.conftest import Db
from tests.support.bounces import fixture
from tests.support.mailstore import Store, serving
from tests.support.running import invoke


def test_bounces_fetch_reads_the_mailbox_once(cli_env: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store()
    store.add(fixture("auto-reply-rfc3834.eml"))
    store.add(fixture("unparsable.eml"))
    with serving(store, "imap") as port:
        url = f"imap://bounces:s3cret%20pa%25ss@127.0.0.1:{port}/INBOX"
        monkeypatch.setenv("R2P_BOUNCE_MAILBOX_URL", url)
        monkeypatch.setenv("R2P_BOUNCE_MAILBOX_INSECURE", "true")
        code, output = invoke("bounces", "fetch")
        assert code == 0, output
        assert "[1/2] auto_reply: ignored" in output and "[2/2] unparsed: unknown" in output
        assert f"imap://bounces@127.0.0.1:{port}/INBOX: 2 message(s) read, 2 recorded" in output
        assert "s3cret" not in output and store.messages == []

        monkeypatch.setenv("R2P_BOUNCE_MAILBOX_URL", url.replace("s3cret", "wrong"))
        store.add(fixture("unparsable.eml"))
        code, output = invoke("bounces", "fetch")
    assert code == 1
    assert "error:" in output and "refused the login of bounces" in output
    assert "wrong" not in output and len(store.messages) == 1


def test_bounces_fetch_without_a_mailbox_says_so(cli_env: Db) -> None:
    code, output = invoke("bounces", "fetch")
    assert code == 1 and "R2P_BOUNCE_MAILBOX_URL is not set" in output
    code, output = invoke("bounces", "fetch", "--help")
    assert code == 0 and "R2P_BOUNCE_MAILBOX_URL" in output
