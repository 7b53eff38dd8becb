"""/admin/reports: campaign reports for staff, a board or a funder (staff.reports).

The list shows the alerts and digest issues that began to send, with their figures; one
report has the figures with shares of the mail sent and the timeline, a chart per series.
Both download as CSV (every cell made safe for spreadsheets). The downloads are links
(GET): they hold counts and subjects, no reader's data, so they are neither forms nor
audited, unlike the readers' export.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailer.db import session_scope
from mailer.spreadsheet import write_csv
from mailer.web.pages import SECURITY_HEADERS, factory_of
from staff.console.auth import require_admin
from staff.console.charts import timeline_charts
from staff.console.overview import STATUS_LABELS
from staff.console.session import AdminIdentity
from staff.console.views import page, problem
from staff.reports import (
    RECORD_KEYS,
    TIMELINE_KEYS,
    UNSUBSCRIBE_WINDOW,
    campaign_report,
    recent_reports,
    timeline,
)

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
PATH = "/admin/reports"
LISTED = 100


def csv_download(
    name: str, header: Sequence[str], records: Iterable[Mapping[str, Any]]
) -> Response:
    out = io.StringIO()
    write_csv(out, header, ([record[key] for key in header] for record in records))
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
    }
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get(PATH)
def reports(request: Request, admin: Admin) -> Response:
    with session_scope(factory_of(request)) as session:
        rows = recent_reports(session=session, limit=LISTED)
    context = {
        "reports": rows,
        "listed": LISTED,
        "labels": STATUS_LABELS,
        "window_days": UNSUBSCRIBE_WINDOW.days,
    }
    return page(request, "reports.html", context, admin=admin, section="reports")


@router.get(PATH + ".csv")
def reports_csv(request: Request, admin: Admin) -> Response:
    """Every alert and digest issue that began to send, one row each."""
    with session_scope(factory_of(request)) as session:
        rows = recent_reports(session=session, limit=None)
    name = f"campaign-reports-{datetime.now(UTC):%Y-%m-%d}.csv"
    return csv_download(name, RECORD_KEYS, (row.record() for row in rows))


@router.get(PATH + "/{campaign_id}")
def report(request: Request, admin: Admin, campaign_id: int) -> Response:
    now = datetime.now(UTC)
    with session_scope(factory_of(request)) as session:
        found = campaign_report(campaign_id, session=session)
        line = timeline(found, now=now, session=session) if found else None
    if found is None or line is None:
        return problem(request, admin, "No such report", NO_REPORT, 404)
    context = {
        "report": found,
        "figures": found.figures,
        "timeline": line,
        "charts": timeline_charts(line),
        "status_label": STATUS_LABELS.get(found.status, found.status),
        "window_days": UNSUBSCRIBE_WINDOW.days,
    }
    return page(request, "report.html", context, admin=admin, section="reports")


@router.get(PATH + "/{campaign_id}/timeline.csv")
def report_csv(request: Request, admin: Admin, campaign_id: int) -> Response:
    """The campaign's timeline, one row per slot."""
    with session_scope(factory_of(request)) as session:
        found = campaign_report(campaign_id, session=session)
        line = timeline(found, now=datetime.now(UTC), session=session) if found else None
    if found is None or line is None:
        return problem(request, admin, "No such report", NO_REPORT, 404)
    return csv_download(f"campaign-{found.id}-timeline.csv", TIMELINE_KEYS, line.records())


NO_REPORT = "There is no alert or digest issue with this number that began to send."
