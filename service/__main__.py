"""`python -m service` is the same as the `r2p-mailer` command."""

from __future__ import annotations

from service.cli import app

app(prog_name="r2p-mailer")
