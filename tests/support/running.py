"""Driving the service from tests: the CLI in-process, and waiting on other processes."""

from __future__ import annotations

import time
from collections.abc import Callable

from typer.testing import CliRunner, Result

from service.cli import app

runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """Run ``r2p-mailer ARGS``; (exit code, output). A crash is re-raised, not hidden."""
    result = cli(*args, stdin=stdin)
    return result.exit_code, result.output


def wait_until(condition: Callable[[], object], limit: float = 60.0) -> None:
    """Poll ``condition`` until it is true; fail the test after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not reached in {limit:g} s")


def cli(*args: str, stdin: str | None = None) -> Result:
    """Run ``r2p-mailer ARGS`` and keep the whole result (exit code, output)."""
    result = runner.invoke(app, list(args), input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result
