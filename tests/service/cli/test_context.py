"""A locked or unreachable database is one line on the terminal and exit status 1: no
traceback, and never the database password."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries
from tests.support.running import invoke


def run_cli(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2P_")}
    env.update(
        R2P_DATABASE_URL=database_url,
        R2P_VAR_DIR=str(tmp_path / "var"),
        R2P_SECRET_KEY="test-secret-key-not-for-production",
        COLUMNS="200",
    )
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [("subscribers", "add", "new@example.org", "--confirmed"), ("digest", "send")],
    ids=["add", "digest-send"],
)
def test_a_database_locked_beyond_the_busy_timeout_is_one_line(
    db: Db, tmp_path: Path, command: tuple[str, ...]
) -> None:
    if db.backend != "sqlite":
        pytest.skip("a SQLite lock")
    path = db.engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction
    try:
        line = one_error_line(run_cli(tmp_path, f"sqlite:///{path}?timeout=0.2", *command))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in line and "try again" in line


@pytest.mark.parametrize("command", [("subscribers", "list"), ("digest", "send")])
def test_an_unreachable_postgresql_is_one_line_without_the_password(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    url = "postgresql://postgres:s3cr3t-pw@127.0.0.1:1/x"
    line = one_error_line(run_cli(tmp_path, url, *command))
    assert "s3cr3t-pw" not in line
    assert "cannot reach the database" in line and "127.0.0.1:1" in line


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
@pytest.mark.parametrize("command", [["deliver", "--once"], ["init"], ["subscribers", "list"]])
def test_a_bad_dkim_key_stops_the_command_at_start_naming_the_setting(
    cli_env: Db, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    """Before any message is built: one line naming R2P_DKIM_KEY_FILE, exit status 1,
    and a queued delivery is left queued (not stuck in sending)."""
    key = tmp_path / "dkim.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("R2P_DKIM_KEY_FILE", str(key))
    monkeypatch.setenv("R2P_DKIM_SELECTOR", "r2p")
    monkeypatch.setenv("R2P_DKIM_DOMAIN", "r2p.example.org")
    [reader] = add_readers(cli_env, ["reader@example.org"])
    alert_campaign(cli_env, [reader])
    code, output = invoke(*command)
    assert code == 1, output
    assert "R2P_DKIM_KEY_FILE: not an RSA private key" in output
    assert "Traceback" not in output
    assert [row.status for row in deliveries(cli_env)] == ["queued"]
