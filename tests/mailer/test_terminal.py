"""Attack 9, terminal side: text from outside (feed servers, feeds, readers, files, the
database) reaches the terminal as plain text, never as rich markup or escape sequences."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler

import pytest
from rich.console import Console
from sqlalchemy import select

from mailer.db import session_scope
from mailer.logs import configure_logging as _configure_logging
from mailer.models import Source
from mailer.terminal import plain, safe
from tests.conftest import Db
from tests.support.feedserver import FeedServer
from tests.support.running import invoke

ESCAPES = ("\x1b", "\x07", "\x9b")
HOSTILE_TITLE = "[bold]Loud[/bold] \x1b]8;;http://evil.example\x07click\x1b]8;;\x07 \x1b[2Jgone"
FEED = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
    f"<title>{HOSTILE_TITLE}</title><link>https://example.org/</link>"
    "<description>d</description><item><title>One</title>"
    "<link>https://example.org/1</link><guid>one</guid>"
    "<pubDate>Mon, 16 Nov 2026 10:00:00 GMT</pubDate></item></channel></rss>\n"
)


def server_error(request: BaseHTTPRequestHandler) -> None:
    request.send_response(500, "[/] Internal [red]Error")
    request.send_header("Content-Length", "0")
    request.end_headers()


def test_a_reason_phrase_with_markup_neither_crashes_poll_nor_feeds_list(
    cli_env: Db, feed_server: FeedServer
) -> None:
    invoke("init")
    invoke("feeds", "add", "broken", feed_server.serve("/feed.xml", server_error))
    code, output = invoke("poll", "--feed", "broken")
    assert code == 1, output  # one feed failed: the documented exit status, not a crash
    assert "HTTP 500 [/] Internal [red]Error" in output
    code, output = invoke("feeds", "list")
    assert code == 0, output
    assert "HTTP 500 [/] Internal [red]Error" in output


def test_a_hostile_feed_title_is_shown_literally_without_escape_sequences(
    cli_env: Db, feed_server: FeedServer
) -> None:
    invoke("init")
    url = feed_server.serve_bytes("/feed.xml", FEED.encode())
    assert invoke("feeds", "add", "hostile", url)[0] == 0
    code, output = invoke("poll", "--feed", "hostile")
    assert code == 0, output
    code, output = invoke("feeds", "list")
    assert code == 0, output
    assert "[bold]Loud[/bold]" in output
    assert "gone" in output
    assert not any(escape in output for escape in ESCAPES)


def test_an_ipv6_zone_in_a_feed_address_is_printed(cli_env: Db) -> None:
    invoke("init")
    url = "http://[fe80::1%25lo]:8080/feed"
    code, output = invoke("feeds", "add", "zoned", url)
    assert code == 0 and "[fe80::1%25lo]" in output, output


def test_error_messages_print_outside_text_literally(cli_env: Db) -> None:
    invoke("init")
    code, output = invoke("feeds", "enable", "[bold]x[/]\x1b[2J")
    assert code == 1 and "[bold]x[/]" in output and "\x1b" not in output


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[bold]x[/]", "[bold]x[/]"),
        ("HTTP 500 [/]", "HTTP 500 [/]"),
        ("a\x1b[2Jb", "ab"),
        ("a\x1b]8;;http://evil\x07link\x1b]8;;\x07b", "alinkb"),
        ("a\x1b]0;title\x1b\\b", "ab"),
        ("a\x9b31mb", "ab"),
        ("a\rb\nc\td", "a b c d"),
        ("a\u202eb", "ab"),
        ("\x00\x08x", "x"),
    ],
)
def test_plain_and_safe(text: str, shown: str) -> None:
    assert plain(text) == shown
    console = Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(f"[bold]{safe(text)}[/]")
    assert captured.get().rstrip("\n") == shown


def test_feeds_list_strips_escape_sequences_stored_in_the_database(cli_env: Db) -> None:
    invoke("init")
    with session_scope(cli_env.factory) as session:
        source = session.scalars(select(Source).where(Source.key == "un-press")).one()
        source.title = HOSTILE_TITLE
        source.last_error = "HTTP 502 \x1b[31m[/]red\x1b[0m"
        source.enabled = False
        source.disabled_reason = "gone [/] \x9b2J"
    code, output = invoke("feeds", "list")
    assert code == 0, output
    assert "[bold]Loud[/bold]" in output and "HTTP 502 [/]red" in output
    assert "\tfalse\tgone [/] \t" in output
    assert not any(escape in output for escape in ESCAPES)
    code, output = invoke("feeds", "list", "--format", "table")
    assert code == 0, output
    # Read down the table's columns (title, why off, health): folding splits lines.
    cells = [line.split("│") for line in output.splitlines() if "│" in line]

    def column(index: int) -> str:
        return "".join(cell[index] for cell in cells).replace(" ", "")

    assert "[bold]Loud[/bold]" in column(2) and "gone[/]" in column(5)
    # The table shows the health in plain words (the raw error is in the tsv above).
    assert any("Notpolled:gone[/]" in column(index) for index in range(len(cells[0])))
    assert not any(escape in output for escape in ESCAPES)


def test_plain_can_keep_line_breaks() -> None:
    assert plain("one\r\ntwo\x1b[2J\nthree\tfour\x07", lines=True) == "one\ntwo\nthree four"


def test_log_lines_of_cli_services_carry_no_escape_sequences(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        _configure_logging()
        logging.getLogger("jobs.poll").warning("feed failed: %s", HOSTILE_TITLE)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    logged = capsys.readouterr().err
    assert "feed failed: [bold]Loud[/bold]" in logged and "gone" in logged
    assert not any(escape in logged for escape in ESCAPES)
