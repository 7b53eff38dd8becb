"""Error answers that can always be encoded and never say more than they should: an HTML
page for people (a missing page, a wrong method, a server error), JSON for the API.

``"\\ud800"`` is valid JSON but not valid text (a lone surrogate), and Starlette's
JSONResponse writes UTF-8, which cannot encode it: a 422 that quotes such input, or an
error that names it, would become a 500. These are FastAPI's default handlers for
validation errors and HTTPException, the same answers written with ASCII escapes.

An unexpected error (500) says only that it happened: the exception's text can hold SQL,
parameters, URLs with passwords or tokens, so it goes to the log alone. That answer is
made outside the app's middleware, so it carries the security headers itself.
"""

from __future__ import annotations

import http
import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from mailer.i18n import N_
from mailer.web.pages import is_https, render, response_headers, settings_of

log = logging.getLogger(__name__)
NO_BODY = {204, 304}
SERVER_ERROR = "Internal server error. It has been logged."
# What a person sees for each status; a handler's own detail (already written for people,
# e.g. "There is no alert 12.") replaces the message. Starlette's bare phrases do not.
PAGES = {
    400: (
        N_("Bad request"),
        N_("This request could not be understood. Please go back and try again."),
    ),
    401: (N_("Please sign in"), N_("This page needs you to sign in first.")),
    403: (N_("Not allowed"), N_("You are not allowed to see this page.")),
    404: (
        N_("Page not found"),
        N_(
            "There is no page at this address. The link may be incomplete, or the page may "
            "have moved."
        ),
    ),
    405: (N_("Not available"), N_("This page cannot be used that way.")),
    413: (N_("Too large"), N_("What you sent is too large.")),
    429: (
        N_("Too many requests"),
        N_("Too many requests from your network. Please try again later."),
    ),
}
OTHER = (N_("Something went wrong"), N_("This request could not be completed."))


def wants_json(request: Request) -> bool:
    """The API, or a client that asks for JSON and not for HTML."""
    accept = request.headers.get("accept", "")
    return request.url.path.startswith("/api/") or (
        "application/json" in accept and "text/html" not in accept
    )


def error_page(request: Request, status: int, detail: str = "") -> Response:
    """The HTML page for an error status (the site's own layout, no details of the
    request); plain text should the page itself fail to render."""
    title, message = PAGES.get(status, OTHER)
    if detail and detail != http.HTTPStatus(status).phrase:
        message = detail
    try:
        return render(
            request,
            "error.html",
            {"title": title, "message": message, "status": status},
            status=status,
        )
    except Exception:
        log.exception("cannot render the %d page", status)
        headers = response_headers(https=is_https(settings_of(request)))
        return PlainTextResponse(message, status_code=status, headers=headers)


class AsciiJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode("ascii")


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code < 200 or exc.status_code in NO_BODY:
        return Response(status_code=exc.status_code, headers=exc.headers)
    if not wants_json(request):
        page = error_page(
            request, exc.status_code, exc.detail if isinstance(exc.detail, str) else ""
        )
        page.headers.update(exc.headers or {})
        return page
    return AsciiJSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
    )


async def server_error(request: Request, exc: Exception) -> Response:
    """Any unhandled exception: a fixed text, as a page (JSON for the API); uvicorn logs
    the error."""
    headers = response_headers(https=is_https(settings_of(request)))
    if wants_json(request):
        return AsciiJSONResponse({"detail": SERVER_ERROR}, status_code=500, headers=headers)
    page = error_page(request, 500, SERVER_ERROR)
    page.headers.update(headers)
    return page


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
