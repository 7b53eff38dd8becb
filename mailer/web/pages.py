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
from urllib.parse import urlencode

import anyio.from_thread
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session, sessionmaker

from mailer import i18n
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


_environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
i18n.install(_environment)
templates = Jinja2Templates(env=_environment)
# The language a reader picked with the switcher, remembered for the next pages.
LANGUAGE_COOKIE = "r2p_lang"
LANGUAGE_PARAM = "lang"


def page_language(request: Request, reader_language: str | None = None) -> str:
    """The language of a reader page: the switcher's choice (``?lang=``), else the
    reader's stored language, else the remembered choice, else ``Accept-Language``."""
    return i18n.pick(
        request.query_params.get(LANGUAGE_PARAM),
        reader_language,
        request.cookies.get(LANGUAGE_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )


def language_links(
    request: Request, current: str, *, status: int = 200
) -> list[dict[str, str | bool]]:
    """The switcher: this page in each language (the signup form instead after a POST or
    on an error page, which never echoes the path it was asked for)."""
    same_page = request.method == "GET" and status < 400
    path = request.url.path if same_page else "/subscribe"
    params = request.query_params.multi_items() if same_page else []
    kept = [(k, v) for k, v in params if k != LANGUAGE_PARAM]
    links: list[dict[str, str | bool]] = []
    for code in i18n.LANGUAGES:
        query = urlencode([*kept, (LANGUAGE_PARAM, code)])
        links.append(
            {
                "code": code,
                "name": i18n.LANGUAGE_NAMES[code],
                "url": f"{path}?{query}",
                "current": code == current,
            }
        )
    return links


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
    bind it to the session too: ``csrf_session``). Reader pages are in the reader's
    language (``page_language``; a ``reader_language`` in ``context`` is the stored one),
    with a language switcher; the staff console (``admin/``) stays English."""
    settings = settings_of(request)
    staff = name.startswith("admin/")
    reader_language = (context or {}).get("reader_language")
    language = i18n.DEFAULT if staff else page_language(request, reader_language)
    cookie = csrf_cookie(request)
    fresh = not cookie or len(cookie) > 100
    value = csrf.new_cookie_value() if fresh or cookie is None else cookie
    full = {
        "csrf_field": csrf.FIELD,
        "csrf_token": csrf.form_token(settings.signing_key, value, csrf_session),
        "errors": {},
        "notice": "",
        "page_lang": language,
        "page_dir": i18n.direction(language),
        "language_links": [] if staff else language_links(request, language, status=status),
        **(context or {}),
    }
    with i18n.use_language(language):
        response = templates.TemplateResponse(
            request, name, full, status_code=status, headers=SECURITY_HEADERS
        )
    chosen = i18n.supported(request.query_params.get(LANGUAGE_PARAM))
    if chosen and not staff:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            path="/",
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=is_https(settings),
        )
    if fresh:
        https = is_https(settings)
        response.set_cookie(
            csrf.cookie_name(https), value, path="/", httponly=True, samesite="lax", secure=https
        )
    return response
