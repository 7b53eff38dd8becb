"""The ASGI app factory: the shared web plumbing (``mailer.web.site``), the reader pages
(``subscribers.web``) and the staff console and API (``staff.console``), and for
`r2p-mailer run` the scheduler (in this process) and a delivery worker (in a child
process, restarted if it dies: jobs/worker_process.py) tied to the app's lifespan.

What guards every request lives here too: ``SecurityHeaders`` gives every answer the
security headers (HSTS on https sites) unless it set its own; ``BodyLimit`` refuses a body
over ``BODY_LIMIT`` with 413, whether it has a Content-Length or comes chunked. /metrics
needs ``Authorization: Bearer <R2P_METRICS_TOKEN>`` and is off (404) without the setting;
/healthz tells the public only ok or degraded, and the details to a logged-in admin or the
metrics scraper.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobs.deliver import RECORD_STOP_GRACE
from jobs.runtime import Runtime
from jobs.scheduler import SchedulerHost
from jobs.worker_process import WorkerProcess
from mailer import __version__
from mailer.config import Settings
from mailer.db import make_engine, make_sessionmaker
from mailer.email.dkim import DkimSigner
from mailer.models import utcnow
from mailer.observe import health, metrics_text
from mailer.web import site
from mailer.web.errors import AsciiJSONResponse
from mailer.web.pages import response_headers
from staff import console as staff_console
from staff.api.auth import bearer_token
from staff.console.auth import session_admin
from subscribers import web as reader_pages

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 30.0
HEALTH_THREADS = 2  # /healthz's own threads (a load balancer or two asking at once)
# The worker process keeps trying to record its replies for RECORD_STOP_GRACE after it
# is asked to stop; killing it sooner would lose them (and resend those messages).
WORKER_STOP_SECONDS = RECORD_STOP_GRACE + 10.0
# Every form and API body is far smaller; nothing is uploaded through the web.
BODY_LIMIT = 64 * 1024
TOO_LARGE = f"The request body is larger than {BODY_LIMIT // 1024} KiB."


class SecurityHeaders:
    """Adds ``response_headers`` to every answer that did not set them itself (an email
    preview keeps its own CSP and may be framed by our own pages: SAMEORIGIN)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = response_headers(https=self.https, cache=scope["path"].startswith("/static/"))

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                csp = headers.get("content-security-policy", "")
                for name, value in defaults.items():
                    if name == "X-Frame-Options" and "frame-ancestors 'self'" in csp:
                        value = "SAMEORIGIN"
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_secured)


class BodyLimit:
    """413 for a body over ``limit`` bytes: at once for a larger Content-Length, and as soon
    as a chunked body passes it (raised from ``receive``, answered by the app)."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            response = AsciiJSONResponse({"detail": TOO_LARGE}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(status_code=413, detail=TOO_LARGE)
            return message

        await self.app(scope, limited, send)


def metrics_token_ok(request: Request, settings: Settings) -> bool:
    """The request carries ``Authorization: Bearer <R2P_METRICS_TOKEN>`` (compared in
    constant time); never true when the setting is unset."""
    expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    token = bearer_token(request.headers.get("authorization"))
    if not expected or not token:
        return False
    return hmac.compare_digest(token.encode(), expected.encode())


def may_see_details(request: Request, settings: Settings) -> bool:
    """The metrics scraper or a logged-in admin."""
    if metrics_token_ok(request, settings):
        return True
    try:
        return session_admin(request)[0] is not None
    except Exception:  # the database is down: no admin can be told apart
        return False


def create_app(settings: Settings, *, with_services: bool = False) -> FastAPI:
    """The web app; ``with_services`` also runs the scheduler and a delivery worker
    process."""
    DkimSigner.from_settings(settings)  # a bad DKIM key stops the start, naming the setting
    engine = make_engine(settings.database)
    factory = make_sessionmaker(engine)
    # /healthz runs on threads of its own, not the pool that serves the other requests: a
    # load balancer's check never waits for a thread behind requests that wait for the
    # database's write lock (its reads never wait: WAL readers do not wait for writers).
    health_pool = ThreadPoolExecutor(max_workers=HEALTH_THREADS, thread_name_prefix="healthz")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks: list[asyncio.Task[Any]] = []
        worker: WorkerProcess | None = None
        if with_services:
            # Sending in its own process: it must not compete with requests for the GIL.
            worker = WorkerProcess(settings)
            app.state.worker_process = worker
            app.state.wake_worker = worker.wake
            host = SchedulerHost(Runtime(settings, factory, worker.wake))
            tasks = [
                asyncio.create_task(worker.supervise(), name="delivery-worker"),
                asyncio.create_task(host.run(stop), name="scheduler"),
            ]
            app.state.services = tasks
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                # Let the batch in flight finish and settle; kill the worker after a bound.
                await worker.stop(WORKER_STOP_SECONDS)
            if tasks:
                done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
                for task in pending:
                    log.warning(
                        "%s did not stop in %ss; cancelling", task.get_name(), SHUTDOWN_SECONDS
                    )
                    task.cancel()
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        log.error("%s failed: %r", task.get_name(), task.exception())
            engine.dispose()

    # No public /docs, /redoc or /openapi.json: the admin API's reference is at /admin/api
    # for logged-in admins (staff/console/api_docs.py).
    app = FastAPI(
        title="r2p-mailer",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    # What route handlers need: read through request.app.state.
    app.state.settings = settings
    app.state.factory = factory
    # What "now" is for the admin login and its second factor (mailer.web.pages.now_of).
    app.state.clock = utcnow
    # Called after a request queued mail; `run` points it at its in-process worker.
    app.state.wake_worker = lambda: None
    # The scheduler task and the worker's supervisor (`run`), watched by /healthz, and the
    # worker process itself (degraded while it is down, waiting to be restarted).
    app.state.services = []
    app.state.worker_process = None

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        """ok (200) or degraded: 503 when the database is unreachable or a service of this
        process stopped; for a failing relay, a lagging queue or a worker that stopped
        beating, R2P_HEALTH_DEGRADED_STATUS (200 by default). The details (reasons,
        database, scheduler, queue, workers, feeds) only for an admin or the metrics token."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(health_pool, health_response, request)

    def health_response(request: Request) -> JSONResponse:
        code = 200
        try:
            with factory() as session:
                body = health(
                    now=datetime.now(UTC),
                    session=session,
                    lease=timedelta(seconds=settings.lease_seconds),
                    queue_age=settings.health_queue_age,
                )
        except Exception as exc:
            unreachable = f"unreachable: {exc.__class__.__name__}"
            body = {"status": "degraded", "reasons": [f"database {unreachable}"]}
            body["database"] = unreachable
            code = 503
        process: WorkerProcess | None = app.state.worker_process
        if process is not None and not process.running:
            body.update(status="degraded")
            body["reasons"] = [*body["reasons"], "delivery worker process not running"]
        stopped = [t.get_name() for t in app.state.services if t.done()]
        if stopped:
            body.update(status="degraded", stopped=stopped)
            body["reasons"] = [*body["reasons"], *(f"{name} stopped" for name in stopped)]
            code = 503
        if body["status"] != "ok" and code == 200:
            code = settings.health_degraded_status
        if may_see_details(request, settings):
            return JSONResponse({"version": __version__, **body}, status_code=code)
        return JSONResponse({"status": body["status"]}, status_code=code)

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(request: Request) -> PlainTextResponse:
        """Prometheus metrics: items ingested, deliveries by status, send rate, feeds."""
        if settings.metrics_token is None or not settings.metrics_token.get_secret_value():
            raise HTTPException(status_code=404, detail="Not Found")
        if not metrics_token_ok(request, settings):
            raise HTTPException(
                status_code=401,
                detail="Send Authorization: Bearer <R2P_METRICS_TOKEN>.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        with factory() as session:
            exposition = metrics_text(
                now=datetime.now(UTC),
                session=session,
                lease=timedelta(seconds=settings.lease_seconds),
            )
            return PlainTextResponse(
                exposition,
                media_type="text/plain; version=0.0.4",
            )

    site.install(app)
    reader_pages.include(app)
    staff_console.include(app)
    # Added last, so they wrap everything else: the cap applies before the API's token
    # check reads nothing, and every answer, 413 and 401 included, gets the headers.
    app.add_middleware(BodyLimit, limit=BODY_LIMIT)
    app.add_middleware(SecurityHeaders, https=settings.base_url.startswith("https://"))
    return app
