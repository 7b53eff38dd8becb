"""/admin/audit: every admin action, newest first (console, API and CLI alike)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailer.admins import recent_audit
from mailer.db import session_scope
from mailer.web.pages import factory_of
from staff.console.auth import require_admin
from staff.console.session import AdminIdentity
from staff.console.views import page

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
SHOWN = 300


@router.get("/admin/audit")
def audit_log(request: Request, admin: Admin) -> Response:
    with session_scope(factory_of(request)) as session:
        entries = recent_audit(session=session, limit=SHOWN)
    return page(
        request, "audit.html", {"entries": entries, "shown": SHOWN}, admin=admin, section="audit"
    )
