"""Error answers that can always be encoded and never say more than they should.

``"\\ud800"`` is valid JSON but not valid text (a lone surrogate), and Starlette's
JSONResponse writes UTF-8, which cannot encode it: a 422 that quotes such input, or an
error that names it, would become a 500. These are FastAPI's default handlers for
validation errors and HTTPException, the same answers written with ASCII escapes.

An unexpected error (500) says only that it happened: the exception's text can hold SQL,
parameters, URLs with passwords or tokens, so it goes to the log alone. That answer is
made outside the app's middleware, so it carries the security headers itself.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from subscribers.web.pages import is_https, response_headers, settings_of

NO_BODY = {204, 304}
SERVER_ERROR = "Internal server error. It has been logged."


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
    return AsciiJSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
    )


async def server_error(request: Request, exc: Exception) -> Response:
    """Any unhandled exception: a fixed text (JSON under /api/); uvicorn logs the error."""
    headers = response_headers(https=is_https(settings_of(request)))
    if request.url.path.startswith("/api/"):
        return AsciiJSONResponse({"detail": SERVER_ERROR}, status_code=500, headers=headers)
    return PlainTextResponse(SERVER_ERROR, status_code=500, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
