"""/admin/subscribers/import: a CSV file of readers checked first (a dry run: the rows
that would be added and the rejected ones with their reasons), then imported, all rows or
none, by the same staff action as ``r2p-mailer subscribers import`` (audited).

Uploads share the app's request body cap (service.app.BODY_LIMIT, 64 KiB: about a
thousand readers); larger files go through the command line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from mailer.db import write_session
from mailer.errors import MailerError
from mailer.web.pages import factory_of, settings_of
from staff.actions import readers
from staff.actions.actor import Actor, NotAllowedError
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.session import AdminIdentity
from staff.console.subscriber_pages import PATH
from staff.console.views import EXPIRED_FORM, client_ip, page
from subscribers.importer import ImportReport
from subscribers.web.forms import CHECKED

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
IMPORT = PATH + "/import"
CHECK = "check"
RACED = "An address was added by someone else meanwhile; nothing was imported: try again."


def import_page(
    request: Request,
    admin: AdminIdentity,
    *,
    report: ImportReport | None = None,
    checked: bool = False,
    source: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "report": report,
        "checked": checked,
        "source": source,
        "errors": errors or {},
    }
    return page(
        request,
        "subscriber_import.html",
        context,
        admin=admin,
        section="subscribers",
        status=status,
    )


@router.get(IMPORT)
def import_form(request: Request, admin: Admin) -> Response:
    return import_page(request, admin)


@router.post(IMPORT)
async def import_file(
    request: Request,
    admin: Admin,
    file: Annotated[UploadFile, File()],
    mode: Annotated[str, Form()] = CHECK,
    confirmed: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not admin_csrf_ok(request, csrf_token):
        return import_page(request, admin, errors={"form": EXPIRED_FORM}, status=400)
    data = await file.read()
    source = (file.filename or "upload.csv")[:200]
    dry_run = mode == CHECK
    try:
        with write_session(factory_of(request)) as session:
            report = readers.import_file(
                data,
                source=f"console upload {source}",
                confirmed=confirmed == CHECKED,
                dry_run=dry_run,
                actor=Actor.web(admin.email, client_ip(request)),
                settings=settings_of(request),
                now=datetime.now(UTC),
                session=session,
            )
    except NotAllowedError:
        raise  # the 403 page, not a complaint about the file
    except MailerError as exc:
        errors = {"file": f"{exc}; nothing was imported."}
        return import_page(request, admin, source=source, errors=errors, status=400)
    except IntegrityError:
        return import_page(request, admin, source=source, errors={"file": RACED}, status=409)
    return import_page(request, admin, report=report, checked=dry_run, source=source)
