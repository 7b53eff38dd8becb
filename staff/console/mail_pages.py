"""/admin/mail: every email the service wrote to the development Maildir, and each one's
text and HTML (the HTML in a sandboxed frame)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailer.web.pages import settings_of
from staff.console import maildir
from staff.console.auth import require_admin
from staff.console.session import AdminIdentity
from staff.console.views import email_html, page, problem

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]


def _missing(request: Request, admin: AdminIdentity) -> Response:
    return problem(request, admin, "No such message", "That message is not in the Maildir.", 404)


@router.get("/admin/mail")
def mail(request: Request, admin: Admin) -> Response:
    settings = settings_of(request)
    messages, total = maildir.newest(settings.mail_dir)
    context = {
        "smtp": settings.smtp_url is not None,
        "messages": messages,
        "total": total,
        "path": str(settings.mail_dir),
    }
    return page(request, "mail.html", context, admin=admin, section="mail")


@router.get("/admin/mail/{key}")
def message(request: Request, admin: Admin, key: str) -> Response:
    found = maildir.read(settings_of(request).mail_dir, key)
    if found is None:
        return _missing(request, admin)
    return page(request, "mail_message.html", {"message": found}, admin=admin, section="mail")


@router.get("/admin/mail/{key}/html")
def message_html(request: Request, admin: Admin, key: str) -> Response:
    found = maildir.read(settings_of(request).mail_dir, key)
    if found is None or not found.html:
        return _missing(request, admin)
    return email_html(found.html)
