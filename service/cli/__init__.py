"""The ``r2p-mailer`` command: every command of the program, grouped by what staff do.

One module per group, named as the command: ``running`` (init, run, web, worker,
scheduler, poll, deliver), ``inbound`` and ``bounces`` (bounces and
complaints: the receiver, the bounce mailbox), ``feeds``, ``items``,
``subscribers``, ``digest``, ``alerts`` (``alert ...``), ``campaigns`` (``campaign
resume``), ``reports`` and ``admins``. What they share (settings, the database, one-line
errors, safe output) is in ``context`` and ``output``. Each command calls the layers below;
what staff change goes through ``staff.actions``, as in the console and the API.
"""

from __future__ import annotations

from service.cli.admins import admins_app
from service.cli.alerts import alert_app
from service.cli.bounces import bounces_app
from service.cli.campaigns import campaign_app
from service.cli.context import MailerTyper
from service.cli.digest import digest_app
from service.cli.feeds import feeds_app
from service.cli.inbound import inbound_app
from service.cli.items import items_app
from service.cli.reports import reports_app
from service.cli.running import service_app
from service.cli.subscribers import subscribers_app

app = MailerTyper(
    help="r2p-mailer: R2P news digests and urgent alerts. Settings come from R2P_* variables. "
    "List commands take --format table|tsv|json|csv (default: table on a terminal, tsv "
    "otherwise); status lines and progress go to stderr.",
    pretty_exceptions_enable=False,
)
app.add_typer(service_app, rich_help_panel="Run the service")
app.add_typer(inbound_app, rich_help_panel="Run the service")
app.add_typer(bounces_app, name="bounces", rich_help_panel="Run the service")
app.add_typer(feeds_app, name="feeds", rich_help_panel="News")
app.add_typer(items_app, name="items", rich_help_panel="News")
app.add_typer(digest_app, name="digest", rich_help_panel="Mailings")
app.add_typer(alert_app, name="alert", rich_help_panel="Mailings")
app.add_typer(reports_app, name="reports", rich_help_panel="Mailings")
app.add_typer(campaign_app, name="campaign", rich_help_panel="Mailings")
app.add_typer(subscribers_app, name="subscribers", rich_help_panel="Readers")
app.add_typer(admins_app, name="admins", rich_help_panel="Staff accounts")
