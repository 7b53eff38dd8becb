"""Driving the service from tests: the CLI in-process, and `r2p-mailer run` as a real
process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import typer.testing
from typer.main import get_command
from typer.testing import CliRunner, Result

from service.cli import app

# Typer's test runner builds the click command tree again on every call (each command's
# signature inspected: ~40 ms a call with our ~60 commands); a process runs the CLI once,
# so build it once here too. Click commands keep no state between invocations.
typer.testing._get_command = cache(get_command)  # type: ignore[attr-defined]
runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """Run ``r2p-mailer ARGS``; (exit code, output). A crash is re-raised, not hidden."""
    result = cli(*args, stdin=stdin)
    return result.exit_code, result.output


def cli(*args: str, stdin: str | None = None) -> Result:
    """Run ``r2p-mailer ARGS`` and keep the whole result (exit code, output)."""
    result = runner.invoke(app, list(args), input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def start_run(
    directory: Path, env: Mapping[str, str], port: int, *, init: bool = False
) -> tuple[subprocess.Popen[bytes], Path]:
    """`r2p-mailer run --port PORT` in ``directory`` (after ``init`` if asked: only init
    creates the database, as `make run` does), its output in ``directory/run.log``."""
    if init:
        command = [sys.executable, "-m", "service", "init"]
        subprocess.run(command, cwd=directory, env=env, check=True)
    log = directory / "run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "run", "--port", str(port)],
            cwd=directory,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, log
