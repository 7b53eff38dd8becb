"""``inbound``: receive bounces and complaints for R2P_BOUNCE_DOMAIN over SMTP or LMTP."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from jobs.inbound import InboundHandler, serve
from mailer.errors import MailerError
from mailer.logs import configure_logging
from service.cli.context import MailerTyper, cli_context, fail

inbound_app = MailerTyper()


@inbound_app.command()
def inbound(
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 2525,
    lmtp: Annotated[
        bool, typer.Option("--lmtp", help="Speak LMTP (for a Postfix lmtp: transport).")
    ] = False,
) -> None:
    """Receive bounces and complaints for R2P_BOUNCE_DOMAIN over SMTP (or LMTP) until
    SIGTERM/SIGINT: for a Postfix or Exim transport, or an MX, to hand them to. Only that
    domain is accepted (no relaying), messages up to R2P_INBOUND_MAX_BYTES; each report
    is stored before it is acknowledged (see docs/bounces.md)."""
    configure_logging()
    with cli_context() as (settings, _engine, factory):
        try:
            handler = InboundHandler(settings, factory, lmtp=lmtp)
        except MailerError as exc:
            raise fail(str(exc)) from None

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await serve(handler, host=host, port=port, stop=stop)

        try:
            asyncio.run(main())
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc}") from None
