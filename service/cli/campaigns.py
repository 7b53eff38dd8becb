"""``campaign ...``: campaigns of any kind; ``resume`` one that paused itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from mailer.db import session_scope
from mailer.errors import MailerError
from service.cli.context import MailerTyper, cli_context, console, fail
from staff.actions import campaigns
from staff.actions.actor import Actor

campaign_app = MailerTyper(help="Campaigns (alerts and digest issues).")


@campaign_app.command("resume")
def campaign_resume(
    campaign_id: Annotated[int, typer.Argument(metavar="ID", help="The campaign's id.")],
) -> None:
    """Resume a paused campaign, e.g. one that paused itself when too many of its
    messages were refused for policy (R2P_POLICY_PAUSE_AFTER); a running worker takes
    its remaining mail at its next look."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            campaign = campaigns.resume(
                campaign_id, actor=Actor.cli(), now=datetime.now(UTC), session=session
            )
        except MailerError as exc:
            raise fail(str(exc)) from None
        key = campaign.key
    console.print(f"Campaign {campaign_id} ({key}) resumed.")
