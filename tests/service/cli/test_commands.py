"""The r2p-mailer command line against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.feeds.registry import load_default_sources
from tests.conftest import Db
from tests.support.feedserver import FeedServer
from tests.support.running import invoke


def test_every_command_has_help() -> None:
    for command in (
        [],
        ["init"],
        ["poll"],
        ["run"],
        ["feeds"],
        ["feeds", "list"],
        ["feeds", "add"],
        ["feeds", "disable"],
        ["feeds", "enable"],
        ["feeds", "edit"],
        ["items"],
        ["items", "list"],
        ["items", "mark"],
        ["deliver"],
        ["worker"],
    ):
        code, output = invoke(*command, "--help")
        assert code == 0 and "Usage" in output, command


def test_init_is_idempotent_and_adds_default_feeds_once(cli_env: Db) -> None:
    code, output = invoke("init")
    defaults = len(load_default_sources())  # ReliefWeb among them, switched off
    assert code == 0 and f"Added {defaults} default feed source(s)" in output
    code, output = invoke("init")
    assert code == 0 and "Added" not in output and "schema revision" in output
    code, output = invoke("feeds", "list")
    assert code == 0, output
    for key in ("un-news-all", "un-news-peace-security", "un-press", "globalr2p"):
        assert key in output


def test_feeds_add_disable_and_poll_one_feed(cli_env: Db, feed_server: FeedServer) -> None:
    invoke("init")
    url = feed_server.serve_file("/press.xml", "un-press/rss.xml")
    assert invoke("feeds", "add", "local-press", url)[0] == 0
    code, output = invoke("poll", "--feed", "local-press")
    assert code == 0, output
    assert "local-press" in output and "4 new item(s)" in output
    code, output = invoke("poll", "--feed", "local-press")
    assert code == 0 and "unchanged" in output and "0 new item(s)" in output
    assert invoke("feeds", "disable", "local-press")[0] == 0
    code, output = invoke("poll", "--feed", "local-press")
    assert code == 1 and "disabled" in output
    code, output = invoke("feeds", "list")
    assert "\tfalse\tdisabled by an admin\t" in output


def test_feeds_add_records_the_digest_section(cli_env: Db) -> None:
    invoke("init")
    url = "http://127.0.0.1:9/feed.xml"
    assert invoke("feeds", "add", "relief", url, "--section", "humanitarian")[0] == 0
    code, output = invoke("feeds", "add", "bad", url + "?b", "--section", "Not a key")
    assert code == 1 and "not a valid section" in output
    code, output = invoke("feeds", "list", "--format", "json")
    sections = {row["key"]: row["section"] for row in json.loads(output)}
    assert sections["relief"] == "humanitarian" and sections["globalr2p"] == "global-centre"


def test_poll_reports_unreachable_feeds_and_exits_1(cli_env: Db, feed_server: FeedServer) -> None:
    invoke("init")
    invoke("feeds", "disable", "un-news-all")
    invoke("feeds", "add", "dead", "http://127.0.0.1:9/feed.xml")
    code, output = invoke("poll", "--feed", "dead")
    assert code == 1 and "failed" in output and "cannot connect" in output
    code, output = invoke("feeds", "list")
    assert "cannot connect" in output


def test_feeds_add_refuses_private_addresses_unless_allowed(
    cli_env: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("init")
    monkeypatch.setenv("R2P_ALLOW_PRIVATE_FEEDS", "false")
    for url in (
        "http://127.0.0.1:8080/feed",
        "http://10.1.2.3/feed",
        "http://[::1]/feed",
        "http://localhost/feed",
        "http://169.254.169.254/latest/meta-data",
    ):
        code, output = invoke("feeds", "add", "internal", url)
        assert code == 1 and "R2P_ALLOW_PRIVATE_FEEDS" in output, url
    code, output = invoke("feeds", "add", "ftp", "ftp://example.org/feed")
    assert code == 1 and "only http:// and https://" in output
    monkeypatch.setenv("R2P_ALLOW_PRIVATE_FEEDS", "true")
    assert invoke("feeds", "add", "internal", "http://127.0.0.1:8080/feed")[0] == 0


def test_feeds_add_refuses_bad_keys_and_duplicates(cli_env: Db) -> None:
    invoke("init")
    code, output = invoke("feeds", "add", "Bad Key!", "https://example.org/feed")
    assert code == 1 and "not a valid source key" in output
    code, output = invoke("feeds", "add", "un-press", "https://example.org/feed")
    assert code == 1 and "already exists" in output


def test_commands_before_init_say_what_to_do(
    cli_env: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("R2P_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    code, output = invoke("feeds", "list")
    assert code == 1 and "r2p-mailer init" in output


def test_a_bad_setting_stops_the_command_naming_it(
    cli_env: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("R2P_FEED_TIMEOUT", "forever")
    code, output = invoke("poll")
    assert code == 1 and "R2P_FEED_TIMEOUT" in output
