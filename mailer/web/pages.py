"""What every web page shares, the readers' and the staff console's: the Jinja
environment, security headers, the CSRF cookie, and access to the app's settings, database,
rate limiter and worker.

``response_headers`` is what every answer of the app carries unless it sets its own
(service/app.py adds them in one middleware); ``SECURITY_HEADERS`` stays for the routes
that name them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.from_thread
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.resources import TEMPLATES_DIR
from mailer.web import csrf
from mailer.web.ratelimit import RateLimiter, client_key

TEMPLATE_DIR = TEMPLATES_DIR / "web"
STATIC_DIR = Path(__file__).resolve().parent / "static"

# Tokens travel in page URLs: never send them on as a Referer, never cache the pages.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
HSTS = "max-age=31536000; includeSubDomains"


def is_https(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def response_headers(*, https: bool, cache: bool = False) -> dict[str, str]:
    """The security headers of every answer; HSTS on https sites; ``cache``: leave caching
    to the answer (static files)."""
    headers = {**SECURITY_HEADERS, "X-Frame-Options": "DENY"}
    if cache:
        del headers["Cache-Control"]
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def now_of(request: Request) -> datetime:
    """The time by the app's clock (``app.state.clock``; tests may freeze it), in UTC."""
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def factory_of(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.factory
    return factory


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.signup_limiter
    return limiter


def client_of(request: Request) -> str:
    return client_key(request.client.host if request.client else None)


def wake_worker(request: Request) -> None:
    """Tell the worker mail is waiting, on the event loop's thread (handlers run in a
    thread pool; the worker's wake-up is an asyncio event)."""
    anyio.from_thread.run_sync(request.app.state.wake_worker)


def csrf_cookie(request: Request) -> str | None:
    return request.cookies.get(csrf.cookie_name(is_https(settings_of(request))))


def csrf_ok(request: Request, token: str, *, session: str = "") -> bool:
    """The form's token fits the CSRF cookie (and ``session``: ``csrf.session_binding``)."""
    return csrf.check(settings_of(request).signing_key, csrf_cookie(request), token, session)


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    csrf_session: str = "",
) -> HTMLResponse:
    """A page with a CSRF token for its forms (and the cookie it is bound to; admin pages
    bind it to the session too: ``csrf_session``)."""
    settings = settings_of(request)
    cookie = csrf_cookie(request)
    fresh = not cookie or len(cookie) > 100
    value = csrf.new_cookie_value() if fresh or cookie is None else cookie
    full = {
        "csrf_field": csrf.FIELD,
        "csrf_token": csrf.form_token(settings.signing_key, value, csrf_session),
        "errors": {},
        "notice": "",
        **(context or {}),
    }
    response = templates.TemplateResponse(
        request, name, full, status_code=status, headers=SECURITY_HEADERS
    )
    if fresh:
        https = is_https(settings)
        response.set_cookie(
            csrf.cookie_name(https), value, path="/", httponly=True, samesite="lax", secure=https
        )
    return response
