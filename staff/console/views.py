"""What every admin page shares: the layout's context, the headers (the reader pages'
SECURITY_HEADERS, plus framing our own email previews), redirects, error pages (the 403
of an action the admin's role does not allow, JSON on the API), and the raw email HTML
served to those preview frames under a CSP of its own."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.web.errors import AsciiJSONResponse, wants_json
from mailer.web.pages import SECURITY_HEADERS
from staff.actions.actor import NotAllowedError
from staff.console.auth import csrf_session, session_admin
from staff.console.session import AdminIdentity
from staff.console.timefmt import Clock
from subscribers.web.forms import render_with_choices

# Admin pages may frame our own previews (below); everything else as on the reader pages.
ADMIN_CSP = SECURITY_HEADERS["Content-Security-Policy"] + "; frame-src 'self'"
# An email as readers see it: its own inline styles, nothing that runs or loads, framed
# only by our pages, and sandboxed (a unique origin with no scripts, forms or popups).
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)
EXPIRED_FORM = "This form was open too long or your browser blocked its cookie. Please try again."


def page(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    admin: AdminIdentity | None,
    section: str = "",
    status: int = 200,
) -> HTMLResponse:
    """``templates/web/admin/<name>`` inside the admin layout."""
    full = {"admin": admin, "section": section, "fmt": Clock(datetime.now(UTC)), "refresh": 0}
    response = render_with_choices(
        request,
        f"admin/{name}",
        {**full, **(context or {})},
        status=status,
        csrf_session=csrf_session(request),
    )
    response.headers["Content-Security-Policy"] = ADMIN_CSP
    return response


def problem(
    request: Request, admin: AdminIdentity | None, title: str, message: str, status: int
) -> HTMLResponse:
    return page(
        request, "message.html", {"title": title, "message": message}, admin=admin, status=status
    )


def see_other(url: str) -> Response:
    """Post/redirect/get: the browser's reload never repeats an action."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def email_html(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={**SECURITY_HEADERS, "Content-Security-Policy": EMAIL_CSP})


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def not_allowed_handler(request: Request, exc: Exception) -> Response:
    """A staff action the admin's role does not allow: 403, a console page that says
    which role it needs, or JSON on the API."""
    assert isinstance(exc, NotAllowedError)
    if wants_json(request):
        return AsciiJSONResponse(
            {"detail": str(exc)}, status_code=403, headers={"Cache-Control": "no-store"}
        )
    admin = (await run_in_threadpool(session_admin, request))[0]
    message = f"Your role does not allow this: {exc}. An owner can change your role."
    return problem(request, admin, "Not allowed", message, 403)
